"""Ingest events: push reports and scan requests are kept durably in PostgreSQL until a
worker has recorded them (ingest/recording.py); one that cannot be recorded is parked."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from time import monotonic, sleep
from typing import Any, Protocol

import psycopg
import redis
from celery import current_app as app  # the project's app, whichever process runs it
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from hosting.counters import count, count_minute
from hosting.redis import client as redis_client
from ingest.parsing import (
    UNKNOWN,
    InvalidReport,
    clean_address,
    float_header,
    header_value,
    json_header,
    parse_ip,
    parse_sent_at,
    plain_text,
    symbols_report,
    token,
)
from ingest.recording import messages_record
from ingest.rspamd import rspamd_check
from tracking.mime import clean_text, message_headers
from tracking.models import IngestEvent
from tracking.services import MessageData

log = logging.getLogger(__name__)

PUSH_PREFIX = "X-Rspamd-"
PROCESS_TASK = "ingest.tasks.process_ingest_event"
DRAIN_TASK = "ingest.tasks.drain_ingest_events"
# Set while a drain of this queue's pushes is queued or at work (ingest_events_drain).
WAKE_PREFIX = "lwsmail:ingest:drain:"
WAKE_TTL_MS = 2000
# How long a web process trusts, once it saw a queue's flag held, that a drain is under
# way: its acks meanwhile send Redis nothing. A drain waits as long between clearing the
# flag and its last look, so what those acks committed is seen by that look.
FLAG_TRUST_S = 0.05
REQUEUE_AFTER = timedelta(minutes=5)
# Pushes recorded per transaction: ham goes in as two bulk inserts.
BATCH = 200
# Connection trouble: the whole batch is retried later, nothing is parked for it.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
# What recording reads of a claimed event (values_list's named rows).
CLAIMED = ("pk", "kind", "meta", "raw", "received_at")


class Claimed(Protocol):
    """An event as recording reads it: a claimed row, the model instance, or a stream
    entry (ingest/stream.py), whose id is Redis's."""

    pk: int | str
    kind: str
    meta: dict[str, Any]
    raw: bytes | memoryview
    received_at: datetime


def push_meta(headers: Mapping[str, str]) -> dict[str, Any]:
    """Validate the metadata_exporter's X-Rspamd-* headers into plain data for the event.

    Identity fields (from, user, rcpt, qid, server, ip, score, action) must be exactly
    right or the push is refused; free text (subject, symbol texts) is kept readable."""

    def get(name: str, *, identity: bool = True) -> str | None:
        field = PUSH_PREFIX + name
        return header_value(headers.get(field), field=field, identity=identity)

    recipients = json_header(get("rcpt"), field="X-Rspamd-rcpt", kind=list)
    symbols_json = get("symbols", identity=False)
    symbols = symbols_report(json_header(symbols_json, field="X-Rspamd-symbols", kind=list))
    action = plain_text(get("action"), field="X-Rspamd-action", max_length=32)
    if not action:
        raise InvalidReport("X-Rspamd-action is missing")
    subject = get("subject", identity=False) or ""
    return {
        "from": clean_address(get("from"), field="X-Rspamd-from"),
        "rcpt": [clean_address(r, field="X-Rspamd-rcpt") for r in recipients if isinstance(r, str)],
        "user": plain_text(get("user"), field="X-Rspamd-user", max_length=254),
        "qid": token(get("qid"), field="X-Rspamd-qid")[:64],
        "server": token(get("rspamd_server"), field="X-Rspamd-rspamd_server"),
        "ip": parse_ip(get("ip")),
        "score": float_header(get("score"), field="X-Rspamd-score"),
        "action": action,
        "subject": clean_text(subject)[:998] if subject != UNKNOWN else "",
        "symbols": symbols,
    }


def scan_meta(
    *,
    sender: str | None,
    recipients: list[str],
    user: str | None,
    ip: str | None,
    queue_id: str | None,
    sent_at: str | datetime | None = None,
) -> dict[str, Any]:
    """Validate the envelope of a message handed to the panel for scanning."""
    if isinstance(sent_at, str):
        sent_at = parse_sent_at(sent_at)
    rcpt = [clean_address(r, field="rcpt") for r in recipients if r.strip()]
    if not rcpt:
        raise InvalidReport("rcpt is missing: give at least one recipient")
    return {
        "from": clean_address(sender, field="from"),
        "rcpt": rcpt,
        "user": clean_address(user, field="user") if user else "",
        "ip": parse_ip(ip),
        "qid": token(queue_id, field="Queue-Id")[:64],
        "sent_at": sent_at.isoformat() if sent_at else None,
    }


def ingest_event_create(*, kind: str, meta: dict[str, Any], raw: bytes) -> int:
    """Store a message durably and, once the row is committed, wake a drain (a push) or
    queue its own task (a scan, which waits for Rspamd); returns the event's id."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        # No model instance: its creation (Model.__init__, the pre_init and post_init
        # signals) was 5 % of the ack's Python calls in process (cProfile).
        pk = _event_insert((kind, now, Jsonb(meta), raw, now))
    else:
        event = IngestEvent(kind=kind, meta=meta, raw=raw, received_at=now, enqueued_at=now)
        event.save(force_insert=True)
        pk = event.pk
    if kind == IngestEvent.Kind.PUSH:
        transaction.on_commit(_drain_wake)
    else:
        transaction.on_commit(lambda: _enqueue([pk]))
    return pk


_INSERT = (
    f"INSERT INTO {IngestEvent._meta.db_table}"
    " (kind, received_at, meta, raw, enqueued_at, attempts, last_error)"
    " VALUES (%s, %s, %s, %b, %s, 0, '') RETURNING id"
)


def _event_insert(params: tuple) -> int:
    """The ack's one statement: outside a transaction it commits by itself. The ORM's
    create in a transaction took four round trips (health check, BEGIN, INSERT, COMMIT)
    and 440 µs of CPU against 110 µs for this (timed once in process); the message goes
    as binary, not hex text (`make bench-ack`: 1.25 → 0.86 ms per ack)."""
    try:
        return _insert_once(params)
    except OperationalError:
        # A connection PostgreSQL dropped since the last request (restart, idle timeout):
        # no SELECT 1 went first to find out, so a new connection, once. Inside a
        # transaction there is nothing to retry.
        if connection.in_atomic_block:
            raise
        connection.close()
    return _insert_once(params)


def _insert_once(params: tuple) -> int:
    connection.ensure_connection()
    # Django's wrapper gives psycopg's errors Django's types, as the ORM's would be, and
    # marks a broken connection to be closed at the request's end.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_INSERT, params)
        return cursor.fetchone()[0]


def _wake_key(queue: str) -> str:
    return f"{WAKE_PREFIX}{queue}"


def _drain_claim(queue: str) -> bool:
    """Take the right to start a drain; False while another drain holds it. It lapses
    after WAKE_TTL_MS: a drain that long at work gets a second one beside it, and one
    whose task was lost holds nothing back for long."""
    return bool(redis_client().set(_wake_key(queue), "1", nx=True, px=WAKE_TTL_MS))


# When this process last asked for each queue's flag and found it held (its own claim
# included), by its monotonic clock.
_flag_held_at: dict[str, float] = {}


def drain_flag_trust_clear() -> None:
    """Forget every flag this process saw held, as a new process would have."""
    _flag_held_at.clear()


def _drain_wake() -> None:
    # Publishing a Celery task costs the ack more than its insert (bench/ack.py): a
    # push publishes one only when no drain is under way, a Redis SET NX otherwise, and
    # nothing at all within FLAG_TRUST_S of finding the flag held.
    queue = settings.INGEST_QUEUE
    # Taken before the question: the flag was held no earlier than this, so the drain
    # that clears it looks again at least FLAG_TRUST_S after.
    asked = monotonic()
    if asked - _flag_held_at.get(queue, -math.inf) < FLAG_TRUST_S:
        return
    try:
        claimed = _drain_claim(queue)
    except redis.RedisError as exc:
        log.warning("ingest: drain flag unreachable (%s); queueing a drain anyway", exc)
    else:
        _flag_held_at[queue] = asked
        if not claimed:
            return
    try:
        # The drain is told its queue: the flag it clears is the one this ack tested.
        app.send_task(DRAIN_TASK, args=[queue], queue=queue)
    except Exception:  # the broker is down: the rows are safe, the recovery sweep re-queues
        log.exception("could not queue an ingest drain; the recovery sweep will")


def _unclaimed_pushes() -> bool:
    with transaction.atomic():
        return bool(
            IngestEvent.objects.pending()
            .filter(kind=IngestEvent.Kind.PUSH)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:1]
        )


def ingest_events_drain(*, queue: str, batch: int = BATCH) -> int:
    """Record pending pushes, `batch` per transaction, until none is left; returns how
    many were recorded; `queue` names the flag that the acks of that queue test. A push
    that commits while this drain ends is not left behind: its ack found the flag set and
    queued nothing, so the drain clears the flag first and looks again FLAG_TRUST_S later
    (an ack commits before it tests the flag). Under steady load it waits a moment
    between small batches (INGEST_DRAIN_LINGER_MS)."""
    total = previous = 0
    while True:
        claimed, recorded = _claim_and_record(Q(kind=IngestEvent.Kind.PUSH), batch)
        total += recorded
        if claimed:
            if previous and claimed < batch:
                _linger()
            previous = claimed
            continue
        previous = 0
        try:
            redis_client().delete(_wake_key(queue))
        except redis.RedisError as exc:  # it lapses by itself
            log.warning("ingest: drain flag unreachable (%s)", exc)
        sleep(FLAG_TRUST_S)  # acks that trusted the flag meanwhile have committed
        if not _unclaimed_pushes():
            return total
        try:
            if not _drain_claim(queue):
                return total  # a drain queued meanwhile takes them
        except redis.RedisError:
            pass  # on our own: go on


def _linger() -> None:
    # Without it, the pushes that arrived while a batch was recorded made the next batch:
    # 4.5 messages on average at 500 msg/s (bench/ingest.py), each paying a share of the
    # batch's dozen statements. A drain that found pushes twice in a row is under steady
    # load and waits for more; a lone push's drain ends at once. The flag is held
    # meanwhile, so no ack queues a second drain for what this one will take.
    sleep(settings.INGEST_DRAIN_LINGER_MS / 1000)


def _scan(event: IngestEvent) -> dict[str, Any]:
    """Scan through Rspamd once and keep the verdict on the event, so a retry after a
    crash records what was scanned instead of scanning again."""
    meta = event.meta
    result = rspamd_check(
        bytes(event.raw),
        sender=meta.get("from") or "",
        recipients=meta.get("rcpt") or [],
        ip=meta.get("ip"),
        user=meta.get("user") or "",
        queue_id=meta.get("qid") or "",
    )
    verdict = {
        "score": result["score"],
        "action": result["action"],
        "required_score": result.get("required_score"),
        "symbols": symbols_report(result.get("symbols") or {}),
        "server": "",
    }
    IngestEvent.objects.filter(pk=event.pk).update(meta={**meta, "verdict": verdict})
    return verdict


def _commit_without_waiting_for_disk() -> None:
    # The event row was committed durably by the endpoint, and this transaction deletes it
    # together with inserting the message: if a crash loses this commit, it loses both, and
    # the event is simply processed again. So this commit need not wait for the WAL flush.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def ingest_event_process(*, event_id: int, batch: int = BATCH) -> int | None:
    """Record an ingest event as a tracked message and delete it in one transaction, taking
    along up to `batch` other pending pushes; returns how many events were recorded, None
    if another worker has the event or it is already done. An event that cannot be
    recorded is parked with its error; it never holds the others back."""
    event = IngestEvent.objects.pending().filter(pk=event_id).first()
    if event is None:
        return None
    if event.kind == IngestEvent.Kind.SCAN and "verdict" not in event.meta:
        _scan(event)  # outside any transaction: no row lock is held while Rspamd works
    # Our event (whatever its kind) and other pushes; scans wait for their own task.
    claimed, recorded = _claim_and_record(Q(pk=event_id) | Q(kind=IngestEvent.Kind.PUSH), batch)
    return recorded if claimed else None


def _claim_and_record(which: Q, batch: int) -> tuple[int, int]:
    """Claim up to `batch` pending events (none that another worker holds), record them and
    delete them in one transaction; returns how many were claimed and recorded."""
    with transaction.atomic():
        # Rows, not model instances: recording reads these five fields and nothing else.
        claimed = list(
            IngestEvent.objects.pending()
            .select_for_update(skip_locked=True)
            .filter(which)
            .order_by("id")
            .values_list(*CLAIMED, named=True)[:batch]
        )
        if not claimed:
            return 0, 0
        _commit_without_waiting_for_disk()
        recorded = events_record(claimed, park=_park_claimed)
        IngestEvent.objects.filter(pk__in=[e.pk for e in recorded]).delete()
        if recorded:
            transaction.on_commit(lambda: recorded_count(len(recorded)))
        return len(claimed), len(recorded)


def recorded_count(n: int) -> None:
    """Count `n` recorded messages in the metrics (a total and this minute's)."""
    count("ingest_recorded", n)
    count_minute("ingest_recorded", n)


def events_record(events: list[Claimed], *, park: Callable[[Claimed, str], None]) -> list[Claimed]:
    """Record the events, all at once when they are sound, else one by one, each in its
    own savepoint, parking those that fail (`park(event, error)`); returns the recorded
    ones."""
    try:
        with transaction.atomic():
            messages_record(datas=[event_data(e) for e in events])
        return events
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception:
        if len(events) == 1:
            return _event_record_or_park(events[0], park)
    return [e for event in events for e in _event_record_or_park(event, park)]


def _event_record_or_park(event: Claimed, park: Callable[[Claimed, str], None]) -> list[Claimed]:
    try:
        with transaction.atomic():
            messages_record(datas=[event_data(event)])
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception as exc:  # anything else is this event's own: park it, go on
        log.exception("ingest event %s cannot be recorded; parked for staff", event.pk)
        park(event, f"{type(exc).__name__}: {exc}")
        return []
    return [event]


def _park_claimed(event: Claimed, error: str) -> None:
    _park(event.pk, error=error)


def _park(event_id: int, *, error: str) -> None:
    IngestEvent.objects.filter(pk=event_id).update(
        parked_at=timezone.now(), last_error=clean_text(error)[:2000], attempts=F("attempts") + 1
    )
    transaction.on_commit(lambda: count("ingest_parked"))


def event_data(event: Claimed) -> MessageData:
    """A push's X-Rspamd-* values, or a scan's envelope with Rspamd's verdict, as plain data."""
    meta = dict(event.meta)
    if event.kind == IngestEvent.Kind.SCAN:
        meta.update({k: v for k, v in meta["verdict"].items() if v != ""})
    raw = bytes(event.raw)
    headers = message_headers(raw)
    return MessageData(
        sender=meta.get("from") or "",
        recipients=meta.get("rcpt") or headers.to,
        sent_at=parse_sent_at(meta.get("sent_at")) or event.received_at,
        score=float(meta["score"]),
        action=str(meta["action"])[:32],
        required_score=meta.get("required_score"),
        authenticated_user=meta.get("user") or "",
        subject=meta.get("subject") or headers.subject,
        size=len(raw),
        queue_id=meta.get("qid") or "",
        rspamd_server=meta.get("server") or "",
        message_id=headers.message_id,
        client_ip=meta.get("ip"),
        script=headers.script,
        uid=headers.uid,
        symbols=meta.get("symbols") or {},
        raw=raw,
    )


def ingest_event_failed(*, event_id: int, error: str, park: bool) -> None:
    """Note a failed attempt on the event: kept for the next retry, or parked for staff
    when a retry cannot cure it or retries ran out."""
    if park:
        _park(event_id, error=error)
        return
    IngestEvent.objects.filter(pk=event_id).update(
        last_error=clean_text(error)[:2000], attempts=F("attempts") + 1
    )


def ingest_events_retry(*, event_ids: list[int]) -> int:
    """Staff retry parked events: back in the queue, with their error kept until then."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            IngestEvent.objects.parked().filter(pk__in=event_ids).values_list("pk", flat=True)
        )
        IngestEvent.objects.filter(pk__in=ids).update(parked_at=None, attempts=0, enqueued_at=now)
        transaction.on_commit(lambda: _enqueue(ids))
    return len(ids)


def _enqueue(ids: list[int]) -> None:
    for pk in ids:
        try:
            # By name: the task calls this module, which therefore never imports it.
            app.send_task(PROCESS_TASK, args=[pk], queue=settings.INGEST_QUEUE)
        except Exception:  # the broker is down: the row is safe, the recovery sweep re-queues
            log.exception("could not queue ingest event %s; the recovery sweep will", pk)


def ingest_events_requeue(*, now: datetime | None = None, limit: int = 10_000) -> int:
    """Queue again the events whose task was lost (broker down or restarted)."""
    now = now or timezone.now()
    stale = list(
        IngestEvent.objects.pending()
        .filter(enqueued_at__lt=now - REQUEUE_AFTER)
        .order_by("enqueued_at")
        .values_list("pk", flat=True)[:limit]
    )
    _enqueue(stale)
    IngestEvent.objects.filter(pk__in=stale).update(enqueued_at=now)
    if stale:
        log.warning("re-queued %d ingest event(s) whose task was lost", len(stale))
    return len(stale)
