"""The Redis stream way in: a real Rspamd appends, `manage.py ingest_stream` records; hostile
entries are parked one by one, nothing is lost to a crash or recorded twice."""

from __future__ import annotations

import json
import socket
from email.header import Header

import pytest
from django.core.management import CommandError, call_command

from ingest import stream as ingest_stream
from ingest.events import event_data
from ingest.parsing import InvalidReport
from ingest.stream import GROUP, ingest_stream_consume, stream_event
from tests.concurrency import run_concurrently
from tests.tracking.mail import message, mta_scan, spam
from tests.tracking.push import push_headers, raw_message
from tests.tracking.test_ingest_fuzz import corpus
from tests.tracking.wsgi_client import connections_kept_open
from tracking.models import IngestEvent, OutboundMessage

pytestmark = pytest.mark.django_db
# What the consumer reads, as Rspamd's LWS_STREAM writes it.
FIELDS = {
    "X-Rspamd-" + name: name
    for name in (
        "from",
        "rcpt",
        "user",
        "qid",
        "rspamd_server",
        "ip",
        "score",
        "action",
        "subject",
        "symbols",
    )
}


def as_bytes(value: str) -> bytes:
    # The corpus holds header values as a WSGI server hands them over (Latin-1 for bytes);
    # Redis keeps bytes, so those go back to what the peer wrote.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def entry(headers: dict[str, str], raw: bytes) -> dict[bytes, bytes]:
    fields = {FIELDS[k].encode(): as_bytes(v) for k, v in headers.items() if k in FIELDS}
    return fields | {b"message": raw}


@pytest.fixture
def stream(settings, redis_client):
    settings.INGEST_STREAM = "lwsmail:test:ingest"
    redis_client.delete(settings.INGEST_STREAM)
    yield settings.INGEST_STREAM
    redis_client.delete(settings.INGEST_STREAM)


@pytest.fixture(scope="module")
def stream_rspamd():
    """Rspamd appending to the tests' stream, at most 3 entries; its exporter would push to
    a closed port, so that a push would be a soft reject."""
    from django.conf import settings

    from tests.harness.rspamd import Rspamd

    server = Rspamd(
        ingest_url="http://127.0.0.1:9/api/ingest/rspamd/",
        redis_url=settings.REDIS_URL,
        stream="lwsmail:test:ingest",
        stream_max=3,
    )
    server.start()
    yield server
    server.cleanup()


def drain(consumer: str = "test") -> int:
    total = 0
    while taken := ingest_stream_consume(consumer=consumer, block_ms=0):
        total += taken
    return total


def test_rspamd_appends_each_message_and_the_command_records_them_with_accents_intact(
    stream_rspamd, stream, redis_client, mailbox
):
    subjects = {
        "FR1": "Réduction exceptionnelle : -20 % sur la crème brûlée",
        "IT1": "Fattura già pagata, perché è ancora aperta?",
    }
    for n, (qid, subject) in enumerate(subjects.items()):
        raw = message(mailbox.address, subject=Header(subject, "utf-8").encode(), n=n)
        verdict = mta_scan(
            stream_rspamd.url, raw, sender=mailbox.address, queue_id=qid, user=mailbox.address
        )
        # Not pushed: the exporter's rule is off, or its failed push would defer the message.
        assert verdict["action"] != "soft reject", stream_rspamd.output()[-2000:]
    assert redis_client.xlen(stream) == 2

    with connections_kept_open():
        call_command("ingest_stream", "--until-empty")

    stored = OutboundMessage.objects.order_by("queue_id")
    assert dict(stored.values_list("queue_id", "subject")) == subjects
    first = stored.first()
    assert (first.mailbox_id, first.rspamd_server) == (mailbox.pk, socket.gethostname())
    assert b"Message-ID:" in bytes(first.content.raw)
    assert redis_client.xlen(stream) == 0
    assert not IngestEvent.objects.exists()


def test_rspamds_spam_is_counted_from_the_stream_as_from_a_push(
    stream_rspamd, stream, redis_client, mailbox
):
    verdict = mta_scan(
        stream_rspamd.url, spam(mailbox.address), sender=mailbox.address, queue_id="S1"
    )

    drain()

    stored = OutboundMessage.objects.get(queue_id="S1")
    assert stored.score == pytest.approx(verdict["score"], abs=0.01)
    assert "LWS_SUBJ_WIN" in stored.content.symbols


def test_a_full_stream_makes_rspamd_soft_reject_the_message_so_the_mta_keeps_it(
    stream_rspamd, stream, redis_client, mailbox
):
    actions = [
        mta_scan(
            stream_rspamd.url,
            message(mailbox.address, subject="Hello", n=n),
            sender=mailbox.address,
            queue_id=f"F{n}",
        )["action"]
        for n in range(4)
    ]

    assert actions.count("soft reject") == 1 and actions[-1] == "soft reject"
    assert redis_client.xlen(stream) == 3
    drain()
    assert sorted(OutboundMessage.objects.values_list("queue_id", flat=True)) == ["F0", "F1", "F2"]


def test_no_hostile_entry_is_lost_blocks_another_or_is_recorded_twice(
    stream, redis_client, mailbox
):
    pushes = [r for r in corpus(mailbox.address) if r.url.endswith("rspamd/")]
    entries = [entry(r.headers, r.body) for r in pushes]
    # Fields no exporter writes, and none at all but the message.
    entries.append({b"\xff\x00": b"\x00", b"message": raw_message(mailbox.address)})
    entries.append({b"message": raw_message(mailbox.address)})
    added = {redis_client.xadd(stream, fields).decode(): fields for fields in entries}
    # What each entry should become, judged one by one: its message's identity, or parked.
    identities, refused = set(), set()
    for entry_id, fields in added.items():
        try:
            identities.add(event_data(stream_event(entry_id, fields)).identity())
        except InvalidReport:
            refused.add(entry_id)

    assert drain() == len(entries)

    parked = list(IngestEvent.objects.parked())
    stored = list(OutboundMessage.objects.values_list("identity", flat=True))
    assert redis_client.xlen(stream) == 0
    assert not IngestEvent.objects.pending().exists()
    assert sorted(stored) == sorted(identities)  # each once
    assert {e.meta["stream_id"] for e in parked} == refused and len(parked) == len(refused)
    assert all(
        e.last_error and "\x00" not in json.dumps(e.meta, ensure_ascii=False) for e in parked
    )
    assert len(refused) > 100 and len(identities) > 50


def test_an_entry_read_again_after_a_crash_before_its_acknowledgement_is_stored_once(
    stream, redis_client, mailbox, monkeypatch
):
    good = push_headers(sender=mailbox.address, qid="ONCE")
    bad = push_headers(sender=mailbox.address, qid="BAD") | {"X-Rspamd-score": "high"}
    redis_client.xadd(stream, entry(good, raw_message(mailbox.address)))
    redis_client.xadd(stream, entry(bad, raw_message(mailbox.address)))

    def lost(self):
        raise ingest_stream.redis.ConnectionError("Redis went away after the commit")

    with monkeypatch.context() as patch:
        patch.setattr(ingest_stream.redis.client.Pipeline, "execute", lost)
        with pytest.raises(ingest_stream.redis.ConnectionError):
            ingest_stream_consume(consumer="test", block_ms=0)
    assert redis_client.xlen(stream) == 2  # committed, not acknowledged

    assert drain() == 2

    assert OutboundMessage.objects.filter(queue_id="ONCE").count() == 1
    assert IngestEvent.objects.parked().count() == 1
    assert redis_client.xlen(stream) == 0


def test_a_dead_consumers_entries_are_taken_over_after_a_minute_not_before(
    stream, redis_client, mailbox
):
    redis_client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    redis_client.xadd(stream, entry(push_headers(sender=mailbox.address, qid="D1"), b"x"))
    [[_, [(entry_id, _)]]] = redis_client.xreadgroup(GROUP, "dead", {stream: ">"})

    redis_client.xclaim(stream, GROUP, "dead", 0, [entry_id], idle=59_000)
    assert ingest_stream_consume(consumer="alive", block_ms=0) == 0

    redis_client.xclaim(stream, GROUP, "dead", 0, [entry_id], idle=60_001)
    assert ingest_stream_consume(consumer="alive", block_ms=0) == 1
    assert OutboundMessage.objects.filter(queue_id="D1").exists()
    assert redis_client.xlen(stream) == 0


def test_the_command_refuses_a_batch_out_of_range(stream):
    for bad in ("0", "1001"):
        with pytest.raises(CommandError, match="--batch must be between 1 and 1000"):
            call_command("ingest_stream", "--batch", bad, "--until-empty")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_four_consumers_at_once_record_every_entry_once_and_leave_the_stream_empty(
    stream, redis_client, mailbox
):
    # Some spam among them: the L-SPAM engine's locks are taken by concurrent batches.
    for n in range(400):
        headers = push_headers(sender=mailbox.address, qid=f"C{n}", score=12.0 if n % 5 else 1.0)
        redis_client.xadd(stream, entry(headers, raw_message(mailbox.address)))
    # The same message twice, far apart: two consumers may hold the copies at once.
    redis_client.xadd(stream, entry(push_headers(sender=mailbox.address, qid="C0"), b"again"))

    results = run_concurrently(lambda i: drain(consumer=f"c{i}"), workers=4)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 401
    queue_ids = list(OutboundMessage.objects.values_list("queue_id", flat=True))
    assert len(queue_ids) == len(set(queue_ids)) == 400
    assert redis_client.xlen(stream) == 0 and not IngestEvent.objects.exists()


def test_the_command_touches_its_heartbeat_and_refuses_one_it_cannot_write(stream, tmp_path):
    beat = tmp_path / "alive"
    with connections_kept_open():
        call_command("ingest_stream", "--until-empty", "--heartbeat", str(beat))
    assert beat.exists()

    with pytest.raises(CommandError, match=r"--heartbeat .*/missing/alive"):
        call_command(
            "ingest_stream", "--until-empty", "--heartbeat", str(tmp_path / "missing/alive")
        )


def test_the_panels_own_scans_are_not_appended(
    stream_rspamd, stream, redis_client, settings, mailbox
):
    from ingest.rspamd import _client, rspamd_check

    settings.RSPAMD_URL = stream_rspamd.url
    _client.cache_clear()
    try:
        verdict = rspamd_check(
            spam(mailbox.address),
            sender=mailbox.address,
            recipients=["friend@example.org"],
            ip="203.0.113.9",
            user=mailbox.address,
            queue_id="OWN1",
        )
    finally:
        _client.cache_clear()

    assert verdict["score"] > 0
    assert redis_client.xlen(stream) == 0


def test_an_entry_deleted_by_hand_while_held_is_let_go(stream, redis_client, mailbox):
    redis_client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    entry_id = redis_client.xadd(stream, entry(push_headers(sender=mailbox.address), b"x"))
    redis_client.xreadgroup(GROUP, "test", {stream: ">"})
    redis_client.xdel(stream, entry_id)

    assert ingest_stream_consume(consumer="test", block_ms=0) == 0
    assert redis_client.xpending(stream, GROUP)["pending"] == 0


def test_the_command_says_so_when_the_streams_key_holds_something_else(stream, redis_client):
    redis_client.set(stream, "not a stream")

    with connections_kept_open(), pytest.raises(CommandError, match="ingest: WRONGTYPE"):
        call_command("ingest_stream", "--until-empty")
