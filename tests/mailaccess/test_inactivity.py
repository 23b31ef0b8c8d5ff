"""A mailbox idle for 90 days (no login, no message sent) is suspended, its customer warned
7 days before; one click reactivates it. Time travel at the edges, to the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from hosting.models import AuditEvent, Mailbox
from mailaccess.inactivity import inactivity_sweep
from tests.abuse.helpers import spam_at
from tests.factories import MailboxFactory

pytestmark = pytest.mark.django_db

CREATED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
WARN_AT = CREATED + timedelta(days=83)
SUSPEND_AT = CREATED + timedelta(days=90)


@pytest.fixture
def idle(customer):
    """marie's contact@ created on CREATED, never used since."""
    Mailbox.objects.filter(pk=customer.box.pk).update(created_at=CREATED)
    Mailbox.objects.filter(pk=customer.other_box.pk).update(created_at=CREATED + timedelta(days=60))
    customer.box.refresh_from_db()
    return customer


def sweep(at: datetime):
    with time_machine.travel(at, tick=False):
        return inactivity_sweep(now=at)


@pytest.mark.parametrize(("offset", "warned"), [(-1, False), (1, True)])
def test_the_customer_is_warned_7_days_before_to_the_second(idle, mailoutbox, offset, warned):
    swept = sweep(WARN_AT + timedelta(seconds=offset))
    assert swept.warned == ([idle.box.address] if warned else [])
    assert len(mailoutbox) == int(warned)
    if warned:
        (mail,) = mailoutbox
        assert idle.box.address in mail.body and idle.other_box.address not in mail.body


@pytest.mark.parametrize(("offset", "suspended"), [(-1, False), (1, True)])
def test_it_is_suspended_at_90_days_to_the_second(idle, mailoutbox, offset, suspended):
    sweep(WARN_AT)
    swept = sweep(SUSPEND_AT + timedelta(seconds=offset))
    assert swept.suspended == ([idle.box.address] if suspended else [])
    idle.box.refresh_from_db()
    assert idle.box.suspended_for_inactivity is suspended
    assert idle.box.is_suspended() is suspended


def test_never_suspended_without_the_7_days_warning(idle, mailoutbox):
    swept = sweep(SUSPEND_AT + timedelta(days=3))  # the job did not run for weeks
    assert swept.suspended == [] and swept.warned == [idle.box.address]
    assert sweep(SUSPEND_AT + timedelta(days=10) - timedelta(seconds=1)).suspended == []
    assert sweep(SUSPEND_AT + timedelta(days=10, seconds=1)).suspended == [idle.box.address]


def test_a_login_or_a_message_sent_keeps_it(idle, mailoutbox):
    sweep(WARN_AT)
    Mailbox.objects.filter(pk=idle.box.pk).update(last_login_at=WARN_AT + timedelta(days=1))
    assert sweep(SUSPEND_AT + timedelta(seconds=1)).suspended == []
    spam_at(idle.other_box.address, CREATED + timedelta(days=100), 1)
    swept = sweep(CREATED + timedelta(days=60 + 90, seconds=1))
    assert idle.other_box.address not in swept.suspended + swept.warned


def test_the_customer_reactivates_it_in_one_click_and_the_count_starts_again(
    idle, logged_in, mailoutbox
):
    sweep(WARN_AT)
    sweep(SUSPEND_AT + timedelta(seconds=1))
    page = logged_in.get(reverse("addresses", args=[idle.hosting.pk])).content.decode()
    assert "L-SUSPENDED" in page and "Reactivate" in page
    url = reverse("mailbox-reactivate", args=[idle.hosting.pk, idle.box.pk])
    assert logged_in.post(url).status_code == 302
    idle.box.refresh_from_db()
    assert not idle.box.is_suspended()
    actions = list(
        AuditEvent.objects.filter(subject=idle.box.address)
        .order_by("created_at", "id")
        .values_list("action", "actor_kind")
    )
    assert actions == [
        ("mailbox.inactivity_warned", "system"),
        ("mailbox.suspended", "system"),
        ("mailbox.reactivated", "customer"),
    ]
    history = logged_in.get(reverse("history", args=[idle.hosting.pk])).content.decode()
    assert "no login and no message sent for 90 days" in history


def test_support_suspensions_are_not_the_customers_to_lift(customer, logged_in):
    from hosting.services import mailbox_suspend
    from tests.factories import UserFactory

    mailbox_suspend(mailbox=customer.box, reason="Abuse", user=UserFactory(is_staff=True))
    url = reverse("mailbox-reactivate", args=[customer.hosting.pk, customer.box.pk])
    assert logged_in.post(url).status_code == 404
    customer.box.refresh_from_db()
    assert customer.box.is_suspended()


def test_a_mailbox_of_another_customer_is_a_404(customer, logged_in):
    theirs = MailboxFactory()
    url = reverse("mailbox-reactivate", args=[theirs.domain.hosting_id, theirs.pk])
    assert logged_in.post(url).status_code == 404
