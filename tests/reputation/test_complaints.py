"""Feedback reports matched and counted: by the signed reference, else the Message-ID,
else a queue id; a forged reference matches nothing; the first complaint makes its message
spam for the tiers, once, and can block at the threshold (time travel at the window's
edges); what matches nothing is parked with the reason."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from abuse.models import Block
from reputation.complaints import Outcome, feedback_report_receive, parked_report_retry
from reputation.models import ParkedReport, Via
from tests.abuse.helpers import spam_at
from tests.factories import MailboxFactory, sent_message
from tests.harness.rspamd import REFERENCE_KEY
from tests.reputation.arf import generic, microsoft, original, signed, yahoo
from tracking.models import Complaint, OutboundMessage
from webhooks.events import Event
from webhooks.models import Delivery, Endpoint

T0 = datetime(2026, 12, 31, 23, 0, 0, tzinfo=UTC)  # a week that crosses the new year
QID = "4ZkT3v0Zq5z9vG2"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _key(settings):
    settings.MESSAGE_REFERENCE_KEY = REFERENCE_KEY


@pytest.fixture
def box():
    return MailboxFactory(address="contact@boulangerie.example", domain__name="boulangerie.example")


def _message(box, *, at=T0, queue_id=QID, message_id="<offer-1@boulangerie.example>"):
    return sent_message(box, at=at, queue_id=queue_id, message_id=message_id, subject="Offerta")


def _inner(box, *, reference=True, queue_id=QID, message_id="<offer-1@boulangerie.example>"):
    return original(
        sender=box.address,
        queue_id=queue_id,
        message_id=message_id,
        reference=signed(queue_id, T0) if reference else None,
        sent_at=T0,
    )


@pytest.mark.parametrize("shape", [yahoo, microsoft, generic])
def test_reports_of_each_provider_find_their_message_by_the_signed_reference(box, shape):
    message = _message(box)
    _message(box, queue_id="4ZkT3v0Zq5zOther", message_id="<other@boulangerie.example>")

    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        got = feedback_report_receive(raw=shape(_inner(box), arrival=T0), via=Via.HTTP)

    assert got.outcome == Outcome.COUNTED
    assert (got.complaint.message_id, got.complaint.matched_by) == (message.pk, "reference")
    assert OutboundMessage.objects.get(pk=message.pk).is_spam


def test_without_a_reference_the_message_id_finds_it_then_the_queue_id(box):
    by_id = _message(box)
    by_queue = _message(box, queue_id="4ZkT3v0QueueOnly", message_id="<rewritten@b.example>")
    at = T0 + timedelta(hours=1)

    first = feedback_report_receive(raw=yahoo(_inner(box, reference=False)), via=Via.PIPE, now=at)
    inner = _inner(box, reference=False, queue_id="4ZkT3v0QueueOnly", message_id="")
    second = feedback_report_receive(raw=microsoft(inner), via=Via.PIPE, now=at)

    assert (first.complaint.message_id, first.complaint.matched_by) == (by_id.pk, "message_id")
    assert (second.complaint.message_id, second.complaint.matched_by) == (by_queue.pk, "queue_id")


def test_a_forged_or_altered_reference_matches_nothing_even_by_message_id(box, settings):
    _message(box)
    forged = _inner(box).replace(
        signed(QID, T0).encode(), f"1.{QID}.1798757999.{'0' * 32}".encode()
    )
    got = feedback_report_receive(raw=yahoo(forged), via=Via.HTTP, now=T0)
    assert got.outcome == Outcome.PARKED and "forged" in got.reason

    settings.MESSAGE_REFERENCE_KEY = "another provider's key"
    got = feedback_report_receive(raw=microsoft(_inner(box)), via=Via.HTTP, now=T0)
    assert got.outcome == Outcome.PARKED and "forged" in got.reason
    assert not Complaint.objects.exists() and ParkedReport.objects.count() == 2


def test_a_report_about_no_stored_message_is_parked_then_matched_once_it_is_stored(box):
    report = yahoo(_inner(box, reference=False))
    got = feedback_report_receive(raw=report, via=Via.PIPE, now=T0)
    assert got.outcome == Outcome.PARKED and "no message sent" in got.reason

    message = _message(box)
    retried = parked_report_retry(parked_id=got.parked.pk, now=T0)
    assert retried.outcome == Outcome.COUNTED and retried.complaint.message_id == message.pk
    assert not ParkedReport.objects.exists()


def test_a_message_refused_for_a_block_is_never_the_one_complained_about(box):
    refused = _message(box)
    OutboundMessage.objects.filter(pk=refused.pk).update(status="blocked")
    got = feedback_report_receive(raw=yahoo(_inner(box, reference=False)), via=Via.PIPE, now=T0)
    assert got.outcome == Outcome.PARKED


def test_a_report_delivered_twice_is_stored_and_counted_once(box):
    _message(box)
    report = yahoo(_inner(box))
    again = b"Return-Path: <feedback@yahoo.test>\r\nReceived: from mta2 by mx; now\r\n" + report

    outcomes = [
        feedback_report_receive(raw=r, via=Via.PIPE, now=T0).outcome for r in (report, again)
    ]

    assert outcomes == [Outcome.COUNTED, Outcome.DUPLICATE]
    assert Complaint.objects.count() == 1


def test_a_second_provider_complaining_about_the_same_message_counts_nothing_more(box):
    _message(box)
    first = feedback_report_receive(raw=yahoo(_inner(box)), via=Via.PIPE, now=T0)
    second = feedback_report_receive(raw=microsoft(_inner(box)), via=Via.PIPE, now=T0)
    assert (first.outcome, second.outcome) == (Outcome.COUNTED, Outcome.MATCHED)
    assert [c.counted for c in Complaint.objects.order_by("id")] == [True, False]


def test_a_message_already_spam_by_its_score_is_not_counted_again(box):
    message = _message(box)
    OutboundMessage.objects.filter(pk=message.pk).update(is_spam=True)
    got = feedback_report_receive(raw=yahoo(_inner(box)), via=Via.PIPE, now=T0)
    assert got.outcome == Outcome.MATCHED and not got.blocks


@pytest.mark.parametrize(
    ("arrives", "code"),
    [(timedelta(days=7, seconds=-1), "L-SPAM20"), (timedelta(days=7, seconds=1), None)],
)
def test_the_complaint_that_makes_the_40th_spam_in_7_days_blocks_with_l_spam20(box, arrives, code):
    spam_at(box.address, T0, 39)
    message = _message(box)

    got = feedback_report_receive(raw=yahoo(_inner(box)), via=Via.PIPE, now=T0 + arrives)

    assert got.outcome == Outcome.COUNTED
    standing = Block.objects.active(T0 + arrives).filter(target=box.address).first()
    assert (standing.code if standing else None) == code
    assert got.blocks == ((code,) if code else ())
    if code:
        assert OutboundMessage.objects.get(pk=message.pk).code == code


def test_a_complaint_within_20_minutes_of_sending_starts_the_immediate_tier(box):
    _message(box)
    at = T0 + timedelta(minutes=20, seconds=-1)
    assert feedback_report_receive(raw=yahoo(_inner(box)), via=Via.PIPE, now=at).blocks == (
        "L-SPAM00",
    )


def test_the_complaint_fires_the_message_complained_webhook(box):
    Endpoint.objects.create(
        name="crm", url="https://crm.example/hook", events=[Event.MESSAGE_COMPLAINED]
    )
    message = _message(box)
    feedback_report_receive(raw=yahoo(_inner(box)), via=Via.PIPE, now=T0)

    delivery = Delivery.objects.get(event=Event.MESSAGE_COMPLAINED)
    assert delivery.hosting_id == message.hosting_id
    assert (
        f'"message_id": {message.pk}' in delivery.body
        and '"reporter": "yahoo.test"' in delivery.body
    )


@pytest.mark.django_db(transaction=True)
def test_two_reports_about_one_message_at_the_same_instant_count_it_once():
    box = MailboxFactory(address="contact@boulangerie.example", domain__name="boulangerie.example")
    _message(box)
    reports = [yahoo(_inner(box)), microsoft(_inner(box)), generic(_inner(box))]
    start = threading.Barrier(len(reports))
    outcomes: list[str] = []

    def receive(raw: bytes) -> None:
        try:
            start.wait()
            outcomes.append(feedback_report_receive(raw=raw, via=Via.HTTP, now=T0).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=receive, args=(r,)) for r in reports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == [Outcome.COUNTED, Outcome.MATCHED, Outcome.MATCHED]
    assert Complaint.objects.filter(counted=True).count() == 1
