"""The Redis stream way in: Rspamd appends each scanned message to a stream (XADD, the
LWS_STREAM symbol of deploy/rspamd/rspamd.local.lua) and `manage.py ingest_stream` records
the entries in batches. No HTTP request and no committed row per message: on the push
path those two cost more CPU than Rspamd's scan itself (docs/performance.md, issue 29).

An entry is acknowledged (XACK, then XDEL) only once its batch is committed, durably. One
that this consumer read and did not acknowledge (a transient error) is read again by it
first; one a dead consumer left is claimed after CLAIM_IDLE_MS. Recording is idempotent on
the message's identity, so reading an entry twice stores nothing twice. An entry that
cannot be recorded, or whose fields are not what Rspamd writes, is parked as an
IngestEvent for staff, as a push would be, and never holds the others back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hosting.counters import count
from hosting.redis import client as redis_client
from ingest.events import BATCH, PUSH_PREFIX, Claimed, events_record, push_meta, recorded_count
from ingest.parsing import InvalidReport
from tracking.mime import clean_text
from tracking.models import IngestEvent

log = logging.getLogger(__name__)

GROUP = "lwsmail"
# An entry a consumer has held this long unacknowledged is taken over: its consumer died.
# A batch is recorded in well under a second; a stalled one that is taken over is recorded
# twice at worst, which stores it once.
CLAIM_IDLE_MS = 60_000
MESSAGE_FIELD = b"message"

Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """A stream entry as recording reads it (ingest.events.Claimed)."""

    pk: str
    kind: str
    meta: dict[str, Any]
    raw: bytes
    received_at: datetime


def _added_at(entry_id: str) -> datetime:
    # An entry's id is the time Redis added it, in milliseconds, a dash and a sequence.
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, tz=UTC)


def stream_event(entry_id: str, fields: dict[bytes, bytes]) -> StreamEvent:
    """Validate an entry's fields exactly as a push's X-Rspamd-* headers (their bytes read
    as Latin-1, as a WSGI server hands headers over) and its message."""
    raw = fields.get(MESSAGE_FIELD) or b""
    if not raw:
        raise InvalidReport("message is missing")
    if len(raw) > settings.INGEST_MAX_BYTES:
        raise InvalidReport(f"message larger than {settings.INGEST_MAX_BYTES} bytes")
    headers = {
        PUSH_PREFIX + name.decode("latin-1"): value.decode("latin-1")
        for name, value in fields.items()
        if name != MESSAGE_FIELD
    }
    meta = push_meta(headers)
    if not meta["server"]:
        # Queue ids are unique per sending host only: without it no identity.
        raise InvalidReport("rspamd_server is missing")
    return StreamEvent(entry_id, IngestEvent.Kind.PUSH, meta, raw, _added_at(entry_id))


def _entry_park(
    entry_id: str, *, meta: dict[str, Any], raw: bytes, error: str, again: bool
) -> None:
    """Keep an entry for staff as a parked push; once only, when it is read again after a
    crash that came between its batch's commit and its acknowledgement."""
    meta = {**meta, "stream_id": entry_id}
    if again and IngestEvent.objects.filter(meta__stream_id=entry_id).exists():
        return
    now = timezone.now()
    IngestEvent.objects.create(
        kind=IngestEvent.Kind.PUSH,
        meta=meta,
        raw=raw,
        received_at=_added_at(entry_id),
        enqueued_at=now,
        parked_at=now,
        attempts=1,
        last_error=clean_text(error)[:2000],
    )
    transaction.on_commit(lambda: count("ingest_parked"))


def _unreadable_meta(fields: dict[bytes, bytes]) -> dict[str, Any]:
    # What staff see of an entry that is not what Rspamd writes: every field but the
    # message, as storable text.
    return {
        "stream_fields": {
            clean_text(k.decode("utf-8", "replace"))[:64]: clean_text(v.decode("utf-8", "replace"))[
                :2000
            ]
            for k, v in list(fields.items())[:64]
            if k != MESSAGE_FIELD
        }
    }


def _group_create(client: redis.Redis) -> None:
    try:
        # From the stream's first entry: what Rspamd added before any consumer ran is taken.
        client.xgroup_create(settings.INGEST_STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _read(
    client: redis.Redis, consumer: str, batch: int, block_ms: int
) -> tuple[list[Entry], bool]:
    """This consumer's unacknowledged entries, else a dead consumer's, else new ones
    (waiting up to block_ms); and whether they are read again."""
    stream = settings.INGEST_STREAM
    mine = client.xreadgroup(GROUP, consumer, {stream: "0"}, count=batch)
    mine = mine[0][1] if mine else []
    # An entry deleted while this consumer held it (by hand: XDEL, XTRIM) comes back
    # without fields; acknowledged, it is no longer read again.
    if gone := [entry_id for entry_id, fields in mine if not fields]:
        client.xack(stream, GROUP, *gone)
    if entries := [e for e in mine if e[1]]:
        return entries, True
    claimed = client.xautoclaim(stream, GROUP, consumer, CLAIM_IDLE_MS, "0-0", count=batch)
    # Entries deleted before they were claimed come back empty: nothing is left of them.
    entries = [e for e in claimed[1] if e[1]]
    if entries:
        return entries, True
    new = client.xreadgroup(GROUP, consumer, {stream: ">"}, count=batch, block=block_ms or None)
    return (new[0][1] if new else []), False


def ingest_stream_consume(*, consumer: str, batch: int = BATCH, block_ms: int = 1000) -> int:
    """Record one batch of the stream's entries in one transaction, then acknowledge and
    delete them; returns how many entries were taken (0: none came within block_ms)."""
    client = redis_client()
    try:
        entries, again = _read(client, consumer, batch, block_ms)
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        _group_create(client)
        entries, again = _read(client, consumer, batch, block_ms)
    if not entries:
        return 0
    ids = [entry_id.decode() for entry_id, _ in entries]
    events: list[StreamEvent] = []

    def park(event: Claimed, error: str) -> None:
        _entry_park(str(event.pk), meta=event.meta, raw=bytes(event.raw), error=error, again=again)

    with transaction.atomic():
        for entry_id, (_, fields) in zip(ids, entries, strict=True):
            try:
                events.append(stream_event(entry_id, fields))
            except Exception as exc:  # hostile or broken fields: this entry's own
                log.warning("ingest stream entry %s parked: %s", entry_id, exc)
                error = f"{type(exc).__name__}: {exc}"
                meta = _unreadable_meta(fields)
                raw = fields.get(MESSAGE_FIELD) or b""
                _entry_park(entry_id, meta=meta, raw=raw, error=error, again=again)
        recorded = events_record(events, park=park) if events else []
    # Committed with the WAL flushed (the stream held the only copy until now).
    pipe = client.pipeline(transaction=True)
    pipe.xack(settings.INGEST_STREAM, GROUP, *ids)
    pipe.xdel(settings.INGEST_STREAM, *ids)
    pipe.execute()
    if recorded:
        recorded_count(len(recorded))
    return len(entries)
