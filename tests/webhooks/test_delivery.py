"""Deliveries POSTed to a real local receiver: signed, retried, given up, sent once."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.concurrency import run_concurrently
from tests.harness.common import free_port
from tests.webhooks.receiver import Answer, Receiver
from webhooks.events import Event
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.services import (
    Occurrence,
    webhook_deliveries_purge,
    webhook_delivery_attempt,
    webhook_delivery_retry,
    webhook_events_emit,
)
from webhooks.signing import HEADER, verify

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)  # a year about to end


def emit(key: str = "block.started:7") -> Delivery:
    data = {"target": "élodie@café.fr", "subject": "Offerta è già qui"}
    webhook_events_emit(occurrences=[Occurrence(event=Event.BLOCK_STARTED, key=key, data=data)])
    return Delivery.objects.get(key=key)


@pytest.fixture
def no_jitter(monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda a, b: 1.0)


def test_a_delivery_is_posted_signed_and_the_receiver_verifies_it(endpoint, receiver):
    delivery = emit()
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "delivered"
    [got] = receiver.received
    assert verify(endpoint.secret, got.headers[HEADER], got.body)
    assert not verify("not-the-secret-0123456789", got.headers[HEADER], got.body)
    body = json.loads(got.body)
    assert got.headers["X-Lwsmail-Delivery"] == body["id"] == str(delivery.uuid)
    assert got.headers["X-Lwsmail-Event"] == body["event"] == "block.started"
    assert body["data"]["subject"] == "Offerta è già qui"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "skipped"
    assert len(receiver.received) == 1


def test_a_500_is_retried_after_the_backoff_with_the_same_body_and_id(db, no_jitter):
    answers = {0: Answer(500, b"database is down"), 1: Answer(503, b"still")}
    with Receiver(lambda n: answers.get(n, Answer())) as receiver:
        Endpoint.objects.create(name="crm", url=receiver.url, events=[Event.BLOCK_STARTED])
        with time_machine.travel(T0, tick=False):
            delivery = emit()
            assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == T0 + timedelta(seconds=30)
        with time_machine.travel(T0 + timedelta(seconds=29), tick=False):
            assert webhook_delivery_attempt(delivery_id=delivery.pk) == "skipped"
        with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
            assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == T0 + timedelta(seconds=90)  # then 60 s
        with time_machine.travel(T0 + timedelta(seconds=90), tick=False):
            assert webhook_delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert len({r.body for r in receiver.received}) == 1
    assert len({r.headers["X-Lwsmail-Delivery"] for r in receiver.received}) == 1
    log = list(delivery.attempt_log.values_list("status", "error"))
    assert log == [(500, ""), (503, ""), (200, "")]


def test_the_backoff_doubles_up_to_an_hour_and_gives_up_after_a_day(db, no_jitter, settings):
    settings.WEBHOOK_RETRY_HOURS = 24
    with Receiver(lambda n: Answer(500)) as receiver:
        Endpoint.objects.create(name="crm", url=receiver.url, events=[Event.BLOCK_STARTED])
        with time_machine.travel(T0, tick=False):
            delivery = emit()
        waits = []
        at = T0
        while True:
            with time_machine.travel(at, tick=False):
                outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
            delivery.refresh_from_db()
            if outcome == "failed":
                break
            waits.append((delivery.next_attempt_at - at).total_seconds())
            at = delivery.next_attempt_at
    assert waits[:9] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert delivery.state == "failed"
    # The last retry was due within the day; the next would have been past it.
    assert at <= T0 + timedelta(hours=24) < at + timedelta(hours=1)
    assert delivery.attempts == len(waits) + 1 == len(receiver.received)


@pytest.mark.parametrize("second", [-1, 1])
def test_it_gives_up_only_when_the_next_retry_falls_past_the_day(db, no_jitter, second):
    with Receiver(lambda n: Answer(500)) as receiver:
        Endpoint.objects.create(name="crm", url=receiver.url, events=[Event.BLOCK_STARTED])
        with time_machine.travel(T0, tick=False):
            delivery = emit()
        Delivery.objects.filter(pk=delivery.pk).update(attempts=20)  # backoff: an hour
        at = T0 + timedelta(hours=23, seconds=second)
        with time_machine.travel(at, tick=False):
            outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome == ("retrying" if second < 0 else "failed")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_running_the_same_task_post_it_once():
    with Receiver(lambda n: Answer(delay=0.5)) as receiver:
        Endpoint.objects.create(name="crm", url=receiver.url, events=[Event.BLOCK_STARTED])
        delivery = emit()
        outcomes = run_concurrently(lambda i: webhook_delivery_attempt(delivery_id=delivery.pk), 6)
    assert sorted(outcomes) == ["delivered"] + ["skipped"] * 5
    assert len(receiver.received) == 1
    assert Attempt.objects.count() == 1


def test_an_unreachable_receiver_is_retried_with_the_error_kept(db):
    Endpoint.objects.create(
        name="down", url=f"http://127.0.0.1:{free_port()}/hook", events=[Event.BLOCK_STARTED]
    )
    delivery = emit()
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
    [attempt] = delivery.attempt_log.all()
    assert attempt.status is None and "ConnectError" in attempt.error


@pytest.mark.parametrize(
    "answer, status",
    [
        (Answer(200, b"x" * 1_000_000), 200),
        (Answer(500, b"\xff\xfe\x00 not utf-8"), 500),
        (Answer(302, b"", (("Location", "http://127.0.0.1:1/elsewhere"),)), 302),
        (Answer(410, b"gone"), 410),
    ],
    ids=["huge body", "not utf-8", "redirect not followed", "4xx"],
)
def test_a_hostile_receiver_answer_keeps_its_status_not_its_body_and_only_2xx_delivers(
    db, answer, status
):
    with Receiver(lambda n: answer) as receiver:
        Endpoint.objects.create(name="odd", url=receiver.url, events=[Event.BLOCK_STARTED])
        delivery = emit()
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome == ("delivered" if status == 200 else "retrying")
    [attempt] = delivery.attempt_log.all()
    assert (attempt.status, attempt.error) == (status, "")
    assert not hasattr(attempt, "response")
    assert len(receiver.received) == 1


def test_a_receiver_slower_than_the_timeout_is_an_error_to_retry(db, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    with Receiver(lambda n: Answer(delay=1.0)) as receiver:
        Endpoint.objects.create(name="slow", url=receiver.url, events=[Event.BLOCK_STARTED])
        delivery = emit()
        assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
    [attempt] = delivery.attempt_log.all()
    assert "Timeout" in attempt.error


def test_staff_send_a_given_up_delivery_again_and_not_a_delivered_one(endpoint, receiver):
    delivery = emit()
    Delivery.objects.filter(pk=delivery.pk).update(failed_at=timezone.now())
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "skipped"
    assert webhook_delivery_retry(delivery=delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert not webhook_delivery_retry(delivery=delivery)


def test_finished_deliveries_go_after_the_kept_days_and_pending_ones_stay(endpoint, settings):
    settings.WEBHOOK_KEEP_DAYS = 30
    with time_machine.travel(T0, tick=False):
        done, pending = emit("a"), emit("b")
        Delivery.objects.filter(pk=done.pk).update(delivered_at=T0)
    edge = T0 + timedelta(days=30)
    with time_machine.travel(edge, tick=False):
        assert webhook_deliveries_purge() == 0
    with time_machine.travel(edge + timedelta(seconds=1), tick=False):
        assert webhook_deliveries_purge() == 1
    assert list(Delivery.objects.values_list("key", flat=True)) == ["b"]
    assert pending
