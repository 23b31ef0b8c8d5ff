"""Hard bounces (DSN 5.1.x) over the recipients delivered or bounced in 7 days, per address
and domain: above 10 % over at least 100 recipients, one warning to the customer and one
alert to staff per 7 days; a bounce for policy (5.7.x) or a deferral is not one. Nothing
is blocked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import translation

from abuse.bounces import bounce_rates, bounce_warning_notify, bounce_warnings_issue
from abuse.models import Block, BounceWarning
from tests.factories import (
    CustomerAccountFactory,
    DomainFactory,
    MailboxFactory,
    UserFactory,
    sent_message,
)
from tracking.deliveries import deliveries_record

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)  # the year ends inside the window
LOGGED = SENT + timedelta(minutes=1)


@pytest.fixture
def box(settings):
    settings.STAFF_ALERT_EMAILS = ["abuse@provider.example"]
    user = UserFactory(username="marie")
    account = CustomerAccountFactory(users=[user], language="fr", contact_email="marie@fai.test")
    domain = DomainFactory(hosting__customer=account, name="boulangerie.example")
    return MailboxFactory(domain=domain, address="contact@boulangerie.example")


def send(box, recipients: int, bounced: int, dsn: str = "5.1.1") -> None:
    """One message to `recipients`, `bounced` of them refused with `dsn`, the rest taken."""
    queue_id = uuid.uuid4().hex[:20]
    sent_message(
        box, at=SENT, queue_id=queue_id, recipients=[f"r{n}@example.org" for n in range(recipients)]
    )
    items = [
        {
            "queue_id": queue_id,
            "recipient": f"r{n}@example.org",
            "status": "bounced" if n < bounced else "delivered",
            "dsn": dsn if n < bounced else "2.0.0",
            "reply": "550 5.1.1 no such user" if n < bounced else "250 ok",
            "logged_at": LOGGED.isoformat(),
        }
        for n in range(recipients)
    ]
    # A deferral first counts for nothing: only what was delivered or refused.
    items.append({**items[-1], "status": "deferred", "dsn": "4.7.0", "logged_at": SENT.isoformat()})
    deliveries_record(host="mx1", items=items, now=LOGGED + timedelta(hours=1))


def rates(now) -> dict[str, tuple[int, int, bool]]:
    return {r.target: (r.bounced, r.recipients, r.over) for r in bounce_rates(now=now)}


@pytest.mark.parametrize(
    ("recipients", "bounced", "dsn", "over"),
    [
        (100, 10, "5.1.1", False),  # exactly 10 %: not above
        (100, 11, "5.1.1", True),
        (99, 50, "5.1.1", False),  # too few recipients to judge
        (200, 100, "5.7.1", False),  # refused for policy, not a list problem
        (150, 16, "5.1.2", True),  # no such domain counts too
    ],
)
def test_it_warns_above_10_percent_over_at_least_100_recipients(
    box, recipients, bounced, dsn, over
):
    send(box, recipients, bounced, dsn)
    counted = bounced if dsn.startswith("5.1.") else 0
    now = LOGGED + timedelta(hours=1)
    assert rates(now)[box.address] == (counted, recipients, over)
    assert rates(now)["boulangerie.example"] == (counted, recipients, over)
    assert bounce_warnings_issue(now=now) == (2 if over else 0)


def test_the_7_days_end_one_second_after_the_result(box):
    send(box, 100, 20)
    assert rates(LOGGED + timedelta(days=7) - timedelta(seconds=1))[box.address][2]
    assert box.address not in rates(LOGGED + timedelta(days=7))
    assert box.address not in rates(LOGGED + timedelta(days=7, seconds=1))


def test_one_warning_in_7_days_to_the_customer_in_french_and_to_staff(box, client):
    send(box, 100, 30)
    now = LOGGED + timedelta(hours=1)
    assert bounce_warnings_issue(now=now) == 2
    assert bounce_warnings_issue(now=now + timedelta(days=7) - timedelta(seconds=1)) == 0
    warning = BounceWarning.objects.get(scope="address")
    assert (warning.bounced, warning.recipients) == (30, 100)
    assert bounce_warning_notify(warning_id=warning.pk)
    assert not bounce_warning_notify(warning_id=warning.pk)  # a retried task sends nothing
    customer, staff = mail.outbox
    assert customer.to == ["marie@fai.test"]
    assert (
        customer.subject == "contact@boulangerie.example : 30,0 % des destinataires n'existent pas"
    )
    assert staff.to == ["abuse@provider.example"] and "30.0 %" in staff.subject
    assert not Block.objects.exists()  # it blocks nothing

    # The page is in marie's French; the language goes back with the block (no leak).
    with time_machine.travel(now, tick=False), translation.override("en"):
        client.post("/accounts/login/", {"username": "marie", "password": "pw-for-tests"})
        page = client.get(reverse("mail-abuse", args=[box.domain.hosting_id]))
    text = page.content.decode()
    assert 'id="bounces"' in text and "30,0 %" in text  # French, as marie reads it
