"""An unblock through the API obeys the 90 days and the complaint periods exactly as the
Unblock mailboxes button: the same instants refused, the same reason and date."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from abuse.models import Unblock
from tests.abuse.helpers import T0, spam_at, standing
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
SECOND = timedelta(seconds=1)


def unblock_by(channel: str, api, client, hosting):
    """Press Unblock mailboxes (the customer's button) or call the API; True if it unblocked."""
    before = Unblock.objects.count()
    if channel == "api":
        response = api.post(f"hostings/{hosting.pk}/unblock/")
        assert response.status_code in (200, 409), response.content
        if response.status_code == 409:
            return False, response.json()
        return True, response.json()
    customer = UserFactory()
    hosting.customer.users.add(customer)
    client.force_login(customer)
    response = client.post(f"/h/{hosting.pk}/abuse/unblock/", {"confirm": "on"})
    assert response.status_code == 302
    return Unblock.objects.count() > before, None


@pytest.mark.parametrize("channel", ["button", "api"])
def test_the_complaint_period_and_the_90_days_refuse_at_the_same_instants(
    channel, api, client, mailbox
):
    hosting = mailbox.domain.hosting
    spam_at(mailbox.address, T0, 40)  # L-SPAM20: a complaint period of 24 hours
    complaint_ends = standing(mailbox.address).complaint_ends_at
    with time_machine.travel(complaint_ends - SECOND, tick=False):
        done, body = unblock_by(channel, api, client, hosting)
    assert not done
    if body:
        assert body["reason"] == "complaint_period"
        assert body["available_from"].replace("Z", "+00:00") == complaint_ends.isoformat()
    with time_machine.travel(complaint_ends + SECOND, tick=False):
        done, body = unblock_by(channel, api, client, hosting)
    assert done
    first = Unblock.objects.get()
    # Blocked again later: the next unblock waits 90 days from the first one.
    spam_at(mailbox.address, T0 + timedelta(days=10), 40)
    again = first.created_at + timedelta(days=90)
    with time_machine.travel(again - SECOND, tick=False):
        done, body = unblock_by(channel, api, client, hosting)
    assert not done
    if body:
        assert body["reason"] == "interval"
        assert body["available_from"].replace("Z", "+00:00") == again.isoformat()
    with time_machine.travel(again + SECOND, tick=False):
        done, _ = unblock_by(channel, api, client, hosting)
    assert done


def test_an_exceptional_grant_through_the_api_lets_the_next_unblock_through_once(api, mailbox):
    hosting = mailbox.domain.hosting
    spam_at(mailbox.address, T0, 40)
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert api.post(f"hostings/{hosting.pk}/unblock/").status_code == 200
    spam_at(mailbox.address, T0 + timedelta(days=10), 40)
    with time_machine.travel(T0 + timedelta(days=14), tick=False):  # its complaint period over
        assert api.post(f"hostings/{hosting.pk}/unblock/").json()["reason"] == "interval"
        grant = api.post(f"hostings/{hosting.pk}/exceptional-unblock/").json()
        assert grant["granted"] is True
        assert api.post(f"hostings/{hosting.pk}/exceptional-unblock/").json()["granted"] is False
        done = api.post(f"hostings/{hosting.pk}/unblock/").json()
        assert done.get("used_exceptional_grant") is True, done
    spam_at(mailbox.address, T0 + timedelta(days=20), 40)
    with time_machine.travel(T0 + timedelta(days=22), tick=False):
        assert api.post(f"hostings/{hosting.pk}/unblock/").json()["reason"] == "interval"


def test_a_hosting_says_whether_it_can_be_unblocked_now_and_from_when(api, mailbox):
    hosting = mailbox.domain.hosting
    spam_at(mailbox.address, T0, 40)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        state = api.get(f"hostings/{hosting.pk}/").json()
    assert state["blocked"] is True
    assert {b["code"] for b in state["blocks"]} == {"L-SPAM20", "L-SPAM11"}  # and its domain
    assert state["unblock"]["allowed"] is False
    assert state["unblock"]["reason"] == "complaint_period"
    assert "complaint period" in state["unblock"]["explanation"]
