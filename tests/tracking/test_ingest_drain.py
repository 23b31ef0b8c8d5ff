"""A push's ack publishes a Celery task only when no drain is under way; the drain records
every pending push, those that commit while it ends included."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import ingest.events as events
from ingest.events import WAKE_PREFIX, WAKE_TTL_MS, ingest_event_create, ingest_events_drain
from tests.tracking.push import PASSWORD, push_headers, raw_message
from tracking.models import IngestEvent, OutboundMessage

pytestmark = pytest.mark.django_db
URL = "/api/ingest/rspamd/"


@pytest.fixture
def queue(settings, redis_client):
    settings.INGEST_PASSWORD = PASSWORD
    settings.INGEST_QUEUE = f"test-drain-{uuid.uuid4().hex[:8]}"
    yield settings.INGEST_QUEUE
    redis_client.delete(settings.INGEST_QUEUE, WAKE_PREFIX + settings.INGEST_QUEUE)


def push(client, mailbox, qid: str):
    headers = push_headers(sender=mailbox.address, qid=qid)
    response = client.generic("POST", URL, raw_message(mailbox.address), headers=headers)
    assert response.status_code == 200


def queued(redis_client, queue: str) -> int:
    return redis_client.llen(queue)  # kombu's Redis transport: one list per queue


def test_pushes_queue_one_drain_while_it_is_under_way(
    client, mailbox, queue, redis_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            push(client, mailbox, f"D{n}")

    assert queued(redis_client, queue) == 1
    assert 0 < redis_client.pttl(WAKE_PREFIX + queue) <= WAKE_TTL_MS
    assert ingest_events_drain(queue=queue) == 3
    assert OutboundMessage.objects.count() == 3 and not IngestEvent.objects.exists()
    assert not redis_client.exists(WAKE_PREFIX + queue)  # done: the next push wakes another

    with django_capture_on_commit_callbacks(execute=True):
        push(client, mailbox, "D3")
    assert queued(redis_client, queue) == 2


def test_a_push_that_commits_as_the_drain_ends_is_recorded_by_it(
    monkeypatch, mailbox, queue, redis_client
):
    redis_client.set(WAKE_PREFIX + queue, "1")  # this drain's own flag
    for n in range(2):
        ingest_event_create(kind="push", meta=meta(mailbox, f"E{n}"), raw=b"Subject: x\r\n\r\n")
    claim_and_record = events._claim_and_record
    late = []

    def then_one_more(which, batch):
        claimed = claim_and_record(which, batch)
        if claimed == (0, 0) and not late:
            # An ack commits now: it finds the flag still set and queues nothing.
            late.append(ingest_event_create(kind="push", meta=meta(mailbox, "LATE"), raw=b"x"))
        return claimed

    monkeypatch.setattr(events, "_claim_and_record", then_one_more)

    assert ingest_events_drain(queue=queue) == 3
    assert sorted(OutboundMessage.objects.values_list("queue_id", flat=True)) == [
        "E0",
        "E1",
        "LATE",
    ]
    assert queued(redis_client, queue) == 0  # no task was needed for the late one


def test_acks_within_the_trust_window_of_a_held_flag_send_redis_nothing(
    client, mailbox, monkeypatch, queue, redis_client, django_capture_on_commit_callbacks
):
    asked: list[bool] = []
    claim = events._drain_claim
    monkeypatch.setattr(events, "_drain_claim", lambda q: asked.append(claim(q)) or asked[-1])
    clock = [1000.0]
    monkeypatch.setattr(events, "monotonic", lambda: clock[0])

    def push_at(moment: float, qid: str) -> None:
        clock[0] = moment
        with django_capture_on_commit_callbacks(execute=True):  # the ack's own commit
            push(client, mailbox, qid)

    push_at(1000.0, "T0")  # claims the flag and queues the drain
    push_at(1000.0 + events.FLAG_TRUST_S - 1e-6, "T1")  # trusts it: no Redis command
    push_at(1000.0 + events.FLAG_TRUST_S + 1e-6, "T2")  # asks again, finds it held
    push_at(1000.0 + events.FLAG_TRUST_S + 2e-6, "T3")  # trusts that answer

    assert asked == [True, False]
    assert queued(redis_client, queue) == 1
    assert ingest_events_drain(queue=queue) == 4


def test_a_push_that_trusted_the_flag_as_the_drain_cleared_it_is_recorded_by_it(
    monkeypatch, mailbox, queue, redis_client
):
    redis_client.set(WAKE_PREFIX + queue, "1")  # this drain's own flag
    ingest_event_create(kind="push", meta=meta(mailbox, "C0"), raw=b"x")
    late = []

    def an_ack_commits(seconds):
        # The flag is gone; an ack whose process saw it held a moment ago commits and
        # sends Redis nothing.
        assert seconds == events.FLAG_TRUST_S
        assert not redis_client.exists(WAKE_PREFIX + queue)
        if not late:
            late.append(ingest_event_create(kind="push", meta=meta(mailbox, "TRUSTED"), raw=b"x"))

    monkeypatch.setattr(events, "sleep", an_ack_commits)

    assert ingest_events_drain(queue=queue) == 2
    assert sorted(OutboundMessage.objects.values_list("queue_id", flat=True)) == ["C0", "TRUSTED"]
    assert queued(redis_client, queue) == 0


def test_a_drain_parks_a_bad_push_and_records_the_others(mailbox, queue):
    ingest_event_create(kind="push", meta=meta(mailbox, "G1"), raw=b"x")
    bad = ingest_event_create(kind="push", meta={**meta(mailbox, "G2"), "score": "NaN?"}, raw=b"x")
    ingest_event_create(kind="push", meta=meta(mailbox, "G3"), raw=b"x")

    assert ingest_events_drain(queue=queue) == 2

    assert sorted(OutboundMessage.objects.values_list("queue_id", flat=True)) == ["G1", "G3"]
    assert list(IngestEvent.objects.parked().values_list("pk", flat=True)) == [bad]


@pytest.fixture
def steps(monkeypatch):
    """What the drain did, in order: ("claim", n) and ("linger",); pushes arrive after the
    claims that `arrivals` names (by their index)."""
    done: list[tuple] = []
    claim_and_record = events._claim_and_record

    def claim(which, batch):
        claimed = claim_and_record(which, batch)
        done.append(("claim", claimed[0]))
        return claimed

    monkeypatch.setattr(events, "_claim_and_record", claim)
    monkeypatch.setattr(events, "_linger", lambda: done.append(("linger",)))
    return done


def test_a_drain_under_steady_load_waits_between_small_batches(monkeypatch, mailbox, queue, steps):
    for n in range(2):
        ingest_event_create(kind="push", meta=meta(mailbox, f"S{n}"), raw=b"x")
    claim = events._claim_and_record

    def and_one_arrives(which, batch):
        claimed = claim(which, batch)
        if len(steps) < 3 and claimed[0]:  # a push arrives while each of two batches records
            ingest_event_create(kind="push", meta=meta(mailbox, f"A{len(steps)}"), raw=b"x")
        return claimed

    monkeypatch.setattr(events, "_claim_and_record", and_one_arrives)

    assert ingest_events_drain(queue=queue) == 4
    assert steps == [
        ("claim", 2),
        ("claim", 1),  # pushes waited twice in a row: steady load
        ("linger",),
        ("claim", 1),
        ("linger",),
        ("claim", 0),
    ]


def test_a_lone_pushs_drain_ends_without_waiting(mailbox, queue, steps):
    ingest_event_create(kind="push", meta=meta(mailbox, "L1"), raw=b"x")

    assert ingest_events_drain(queue=queue) == 1
    assert steps == [("claim", 1), ("claim", 0)]


def test_full_batches_go_on_at_once_and_the_last_small_one_waits(mailbox, queue, steps):
    for n in range(5):
        ingest_event_create(kind="push", meta=meta(mailbox, f"F{n}"), raw=b"x")

    assert ingest_events_drain(queue=queue, batch=2) == 5
    assert steps == [("claim", 2), ("claim", 2), ("claim", 1), ("linger",), ("claim", 0)]


def test_the_linger_waits_as_long_as_the_setting_says(monkeypatch, settings):
    slept: list[float] = []
    monkeypatch.setattr(events, "sleep", slept.append)
    settings.INGEST_DRAIN_LINGER_MS = 250

    events._linger()

    assert slept == [0.25]


@pytest.mark.parametrize("linger", [-1, 1001])
def test_a_linger_out_of_range_stops_the_start(settings, linger):
    settings.INGEST_DRAIN_LINGER_MS = linger
    with pytest.raises(SystemCheckError, match=r"lwsmail\.E002.*INGEST_DRAIN_LINGER_MS"):
        call_command("check")


@pytest.mark.parametrize("linger", [0, 1000])
def test_a_linger_at_either_end_of_its_range_is_accepted(settings, linger):
    settings.INGEST_DRAIN_LINGER_MS = linger
    call_command("check")


def meta(mailbox, qid: str) -> dict:
    return {
        "from": mailbox.address,
        "rcpt": ["friend@example.org"],
        "user": mailbox.address,
        "qid": qid,
        "server": "mx-out-1",
        "ip": "203.0.113.9",
        "score": 12.3,
        "action": "add header",
        "subject": "WIN",
        "symbols": {},
    }
