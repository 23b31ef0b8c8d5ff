"""Complaint rate per domain over 30 days: above 0.1 % of at least 1,000 delivered messages,
one early-warning e-mail to the customer (in their language) and one alert to staff per 30
days; exactly 0.1 %, or fewer than 1,000 delivered, is no warning. It blocks nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from abuse.models import Block
from reputation.models import ComplaintWarning
from reputation.rates import complaint_rates, complaint_warning_notify, complaint_warnings_issue
from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory, UserFactory
from tracking.models import Complaint, Delivery, OutboundMessage
from tracking.partitions import MESSAGES, partitions_cover

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 12, 31, 22, 0, tzinfo=UTC)  # the year ends inside the 30 days
NOW = SENT + timedelta(days=2)


@pytest.fixture
def box(settings):
    settings.STAFF_ALERT_EMAILS = ["abuse@provider.example"]
    account = CustomerAccountFactory(
        users=[UserFactory(username="marie")], language="fr", contact_email="marie@fai.test"
    )
    domain = DomainFactory(hosting__customer=account, name="boulangerie.example")
    return MailboxFactory(domain=domain, address="contact@boulangerie.example")


def deliver(box, n: int) -> list[OutboundMessage]:
    """`n` messages of `box`, each delivered to its recipient a minute after it was sent."""
    partitions_cover(scheme=MESSAGES, moments=[SENT])
    messages = OutboundMessage.objects.bulk_create(
        OutboundMessage(
            identity=uuid.uuid4().hex,
            hosting_id=box.domain.hosting_id,
            domain=box.domain,
            mailbox=box,
            sender=box.address,
            source="mailbox",
            recipients=["anna@example.org"],
            sent_at=SENT,
            score=0.5,
            queue_id=f"4ZkT{i:011d}",
        )
        for i in range(n)
    )
    Delivery.objects.bulk_create(
        Delivery(
            host="mx1",
            queue_id=m.queue_id,
            recipient="anna@example.org",
            status="delivered",
            logged_at=SENT + timedelta(minutes=1),
        )
        for m in messages
    )
    return messages


def complain(messages: list[OutboundMessage], at: datetime) -> None:
    for m in messages:
        Complaint.objects.create(
            digest=uuid.uuid4().hex,
            message=m,
            message_sent_at=m.sent_at,
            hosting_id=m.hosting_id,
            domain_id=m.domain_id,
            reporter="yahoo.test",
            received_at=at,
            matched_by="reference",
        )


@pytest.mark.parametrize(
    ("delivered", "complained", "over"),
    [(1000, 1, False), (1000, 2, True), (999, 2, False), (2500, 3, True)],
)
def test_it_warns_above_0_1_percent_of_at_least_1000_delivered(box, delivered, complained, over):
    messages = deliver(box, delivered)
    complain(messages[:complained], SENT + timedelta(hours=1))
    (rate,) = complaint_rates(now=NOW)
    assert (rate.domain, rate.complaints, rate.delivered, rate.over) == (
        "boulangerie.example",
        complained,
        delivered,
        over,
    )
    assert complaint_warnings_issue(now=NOW) == int(over)


def test_two_complaints_about_one_message_are_one_message_complained_about(box):
    messages = deliver(box, 1000)
    complain([messages[0], messages[0]], SENT + timedelta(hours=1))
    assert complaint_rates(now=NOW)[0].complaints == 1


def test_the_30_days_end_one_second_after_the_complaint(box):
    messages = deliver(box, 1000)
    complained = SENT + timedelta(hours=1)
    complain(messages[:2], complained)
    assert complaint_rates(now=complained + timedelta(days=30, seconds=-1))[0].complaints == 2
    assert complaint_rates(now=complained + timedelta(days=30)) == []
    assert complaint_rates(now=complained + timedelta(days=30, seconds=1)) == []


def test_one_warning_in_30_days_to_the_customer_in_french_and_to_staff(box):
    messages = deliver(box, 1000)
    complain(messages[:3], SENT + timedelta(hours=1))
    assert complaint_warnings_issue(now=NOW) == 1
    assert complaint_warnings_issue(now=NOW + timedelta(days=30, seconds=-1)) == 0
    warning = ComplaintWarning.objects.get()
    assert (warning.complaints, warning.delivered) == (3, 1000)
    assert complaint_warning_notify(warning_id=warning.pk)
    assert not complaint_warning_notify(warning_id=warning.pk)  # a retried task sends nothing
    customer, staff = mail.outbox
    assert customer.to == ["marie@fai.test"]
    assert customer.subject.startswith("boulangerie.example :") and "0,3 %" in customer.subject
    assert "signalé" in customer.body
    assert staff.to == ["abuse@provider.example"] and "0.3 %" in staff.subject
    assert not Block.objects.exists()


def test_the_command_issues_and_sends_what_the_beat_job_would(box):
    messages = deliver(box, 1000)
    complain(messages[:2], NOW - timedelta(hours=1))
    with time_machine.travel(NOW, tick=False):
        call_command("complaint_warnings")
    assert ComplaintWarning.objects.get().notified_at is not None
    assert len(mail.outbox) == 2
