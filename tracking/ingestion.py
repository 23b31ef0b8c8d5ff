"""Ingestion: push reports and scan requests become durable events, then tracked messages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from tracking.models import IngestEvent
from tracking.parsing import (
    InvalidReport,
    clean_address,
    float_header,
    json_header,
    parse_ip,
    parse_message,
    parse_sent_at,
    symbols_report,
)
from tracking.rspamd import rspamd_check
from tracking.services import MessageData, messages_record

log = logging.getLogger(__name__)

PUSH_PREFIX = "X-Rspamd-"
REQUEUE_AFTER = timedelta(minutes=5)
# Pushes recorded per transaction: ham goes in as two bulk inserts.
BATCH = 200
MAX_ATTEMPTS = 20  # past this an event waits for staff (admin) instead of looping


def push_meta(headers: Mapping[str, str]) -> dict[str, Any]:
    """Validate the metadata_exporter's X-Rspamd-* headers into plain data for the event."""

    def get(name: str) -> str | None:
        return headers.get(PUSH_PREFIX + name)

    recipients = json_header(get("rcpt"), field="X-Rspamd-rcpt", kind=list)
    symbols = symbols_report(json_header(get("symbols"), field="X-Rspamd-symbols", kind=list))
    action = (get("action") or "").strip()
    if not action:
        raise InvalidReport("X-Rspamd-action is missing")
    return {
        "from": clean_address(get("from"), field="X-Rspamd-from"),
        "rcpt": [clean_address(r, field="X-Rspamd-rcpt") for r in recipients if isinstance(r, str)],
        "user": (get("user") or "").strip() if get("user") != "unknown" else "",
        "qid": (get("qid") or "").strip() if get("qid") != "unknown" else "",
        "server": (get("rspamd_server") or "").strip()[:255],
        "ip": parse_ip(get("ip")),
        "score": float_header(get("score"), field="X-Rspamd-score"),
        "action": action[:32],
        "subject": (get("subject") or "")[:998] if get("subject") != "unknown" else "",
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
        "qid": (queue_id or "").strip()[:64],
        "sent_at": sent_at.isoformat() if sent_at else None,
    }


def ingest_event_create(*, kind: str, meta: dict[str, Any], raw: bytes) -> IngestEvent:
    """Store a message durably and queue its processing once the row is committed."""
    from tracking.tasks import process_ingest_event

    event = IngestEvent.objects.create(kind=kind, meta=meta, raw=raw)

    def enqueue() -> None:
        try:
            process_ingest_event.delay(event.pk)
        except Exception:  # the broker is down: the row is safe, the recovery sweep re-queues
            log.exception("could not queue ingest event %s; the recovery sweep will", event.pk)

    transaction.on_commit(enqueue)
    return event


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
    if another worker has the event or it is already done."""
    verdict = None
    for _attempt in range(2):
        with transaction.atomic():
            # Our event (whatever its kind) and other pushes; scans wait for their own task.
            claimed = list(
                IngestEvent.objects.select_for_update(skip_locked=True)
                .filter(Q(pk=event_id) | Q(kind=IngestEvent.Kind.PUSH))
                .order_by("id")[:batch]
            )
            event = next((e for e in claimed if e.pk == event_id), None)
            if event is not None and event.kind == IngestEvent.Kind.SCAN:
                verdict = verdict or event.meta.get("verdict")
                if verdict is None:
                    claimed = []  # released at the end of this block, then scanned
            if claimed:
                _commit_without_waiting_for_disk()
                messages_record(datas=[_event_data(e, verdict) for e in claimed])
                IngestEvent.objects.filter(pk__in=[e.pk for e in claimed]).delete()
                return len(claimed)
            if event is None:
                return None  # taken by another worker, or already recorded
        # Scanned outside any transaction: no row lock is held while Rspamd works.
        verdict = _scan(event)
    return None


def _event_data(event: IngestEvent, verdict: dict[str, Any] | None) -> MessageData:
    """A push's X-Rspamd-* values, or a scan's envelope with Rspamd's verdict, as plain data."""
    meta = dict(event.meta)
    if event.kind == IngestEvent.Kind.SCAN:
        meta.update({k: v for k, v in (meta.get("verdict") or verdict).items() if v != ""})
    raw = bytes(event.raw)
    _msg, headers = parse_message(raw)
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
        symbols=meta.get("symbols") or {},
        raw=raw,
    )


def ingest_event_failed(*, event_id: int, error: str) -> None:
    """Note a failed attempt on the event (it stays for the next retry or staff)."""
    IngestEvent.objects.filter(pk=event_id).update(
        last_error=error[:2000], attempts=F("attempts") + 1
    )


def ingest_events_requeue(*, now: datetime | None = None, limit: int = 10_000) -> int:
    """Queue again the events whose task was lost (broker down or restarted)."""
    from tracking.tasks import process_ingest_event

    now = now or timezone.now()
    stale = list(
        IngestEvent.objects.filter(enqueued_at__lt=now - REQUEUE_AFTER, attempts__lt=MAX_ATTEMPTS)
        .order_by("enqueued_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in stale:
        process_ingest_event.delay(pk)
    IngestEvent.objects.filter(pk__in=stale).update(enqueued_at=now)
    if stale:
        log.warning("re-queued %d ingest event(s) whose task was lost", len(stale))
    return len(stale)
