"""Delivery results from the mail hosts (mxagent/): checked one by one, stored once, read
beside their messages. Domain services of the tracking app for deliveries, apart from
services.py (messages) by concept."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from hosting.counters import count
from tracking.models import Delivery, DeliveryStatus, OutboundMessage

log = logging.getLogger(__name__)

QUEUE_ID = re.compile(r"[0-9A-Za-z]{5,32}")
DSN = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
# A message is looked up by queue id among results logged from this long before it was
# sent (a short queue id, without enable_long_queue_ids, is reused within days).
JOIN_SLACK = timedelta(hours=1)
# What the API takes in one batch (the agent sends 500).
MAX_BATCH = 1000


@dataclass(frozen=True)
class DeliveriesRecorded:
    stored: int
    duplicates: int
    invalid: int
    bounced: tuple[Delivery, ...] = ()  # new bounces, for the webhooks


def _text(value: object, length: int) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "")[:length]


def delivery_clean(item: object, *, host: str, now: datetime) -> Delivery | None:
    """The row one shipped result makes, None when it is not one."""
    if not isinstance(item, dict):
        return None
    queue_id = item.get("queue_id")
    status = item.get("status")
    if not isinstance(queue_id, str) or not QUEUE_ID.fullmatch(queue_id):
        return None
    if status not in DeliveryStatus.values:
        return None
    recipient, reply, relay, dsn = (
        _text(item.get("recipient"), 254),
        _text(item.get("reply"), 2000),
        _text(item.get("relay"), 255),
        _text(item.get("dsn"), 16),
    )
    if None in (recipient, reply, relay, dsn) or (dsn and not DSN.fullmatch(dsn)):
        return None
    if not recipient and status != DeliveryStatus.EXPIRED:
        return None
    try:
        logged_at = datetime.fromisoformat(item["logged_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if logged_at.tzinfo is None or not (
        now - timedelta(days=3660) < logged_at < now + timedelta(days=1)
    ):
        return None
    delay = item.get("delay")
    if delay is not None and (
        isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 1e9
    ):
        return None
    return Delivery(
        host=host,
        queue_id=queue_id,
        recipient=recipient.lower(),
        status=status,
        dsn=dsn,
        reply=reply,
        relay=relay,
        delay=float(delay) if delay is not None else None,
        logged_at=logged_at,
        received_at=now,
    )


def deliveries_record(
    *, host: str, items: list, skipped: int = 0, now: datetime | None = None
) -> DeliveriesRecorded:
    """Store the results one mail host shipped: each checked alone (one bad item never
    keeps the others out), each stored once however often it comes."""
    now = now or timezone.now()
    rows = [delivery_clean(item, host=host, now=now) for item in items]
    valid = [row for row in rows if row is not None]
    invalid = len(rows) - len(valid)
    if invalid:
        log.warning("deliveries: %d of %d results from %s refused", invalid, len(rows), host)
    inserted = _insert(valid)
    stored = len(inserted)
    count("delivery_results_stored", stored)
    if invalid:
        count("delivery_results_refused", invalid)
    if skipped:
        count("delivery_log_lines_skipped", skipped)
    return DeliveriesRecorded(
        stored=stored,
        duplicates=len(valid) - stored,
        invalid=invalid,
        bounced=tuple(row for row in inserted if row.status == DeliveryStatus.BOUNCED),
    )


def _insert(rows: list[Delivery]) -> list[Delivery]:
    """One statement for the batch; a result already there is left alone. The rows
    stored, with their ids."""
    if not rows:
        return []
    columns = (
        "host",
        "queue_id",
        "recipient",
        "status",
        "dsn",
        "reply",
        "relay",
        "delay",
        "logged_at",
        "received_at",
    )
    types = ("text",) * 7 + ("float8", "timestamptz", "timestamptz")
    arrays = [[getattr(row, column) for row in rows] for column in columns]
    unnest = ", ".join(f"%s::{kind}[]" for kind in types)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Delivery._meta.db_table} ({', '.join(columns)}) "
            f"SELECT * FROM unnest({unnest}) ON CONFLICT DO NOTHING "
            f"RETURNING id, {', '.join(columns)}",
            arrays,
        )
        names = ("id", *columns)
        return [Delivery(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


@dataclass(frozen=True)
class RecipientDelivery:
    """A recipient's latest result, and how many were logged for it."""

    recipient: str
    status: str
    label: str
    dsn: str
    reply: str
    logged_at: datetime
    attempts: int


# A message's status is its worst recipient's.
SEVERITY = {
    DeliveryStatus.DELIVERED: 0,
    DeliveryStatus.DEFERRED: 1,
    DeliveryStatus.EXPIRED: 2,
    DeliveryStatus.BOUNCED: 3,
}


def message_deliveries(message: OutboundMessage) -> list[RecipientDelivery]:
    """Each recipient's latest result for `message`, in its recipients' order; a message
    given up whole (expired) gives up every recipient not delivered by then."""
    if not message.queue_id:
        return []
    results = list(
        Delivery.objects.filter(
            queue_id=message.queue_id, logged_at__gte=message.sent_at - JOIN_SLACK
        ).order_by("logged_at", "id")
    )
    latest = _latest(results)
    latest.pop("", None)
    attempts: dict[str, int] = {}
    for result in results:
        if result.recipient:
            attempts[result.recipient] = attempts.get(result.recipient, 0) + 1
    order = {r.lower(): i for i, r in enumerate(message.recipients)}
    return [
        RecipientDelivery(
            recipient=recipient,
            status=result.status,
            label=DeliveryStatus(result.status).label,
            dsn=result.dsn,
            reply=result.reply,
            logged_at=result.logged_at,
            attempts=attempts.get(recipient, 0),
        )
        for recipient, result in sorted(latest.items(), key=lambda kv: order.get(kv[0], 1 << 30))
    ]


def latest_with_status(status: str):
    """Exists: one of the message's recipients has `status` as its latest result (the
    tracking list's filter)."""
    later = Delivery.objects.filter(
        queue_id=OuterRef("queue_id"),
        recipient=OuterRef("recipient"),
        logged_at__gt=OuterRef("logged_at"),
    )
    return Exists(
        Delivery.objects.filter(
            queue_id=OuterRef("queue_id"),
            status=status,
            logged_at__gte=OuterRef("sent_at") - JOIN_SLACK,
        ).filter(~Exists(later))
    )


def messages_delivery(messages: list[OutboundMessage]) -> dict[int, str]:
    """Each message's delivery status, its worst recipient's (none yet: absent), in one
    query for the page."""
    queue_ids = {m.queue_id for m in messages if m.queue_id}
    if not queue_ids or not messages:
        return {}
    by_queue: dict[str, list[Delivery]] = {}
    oldest = min(m.sent_at for m in messages) - JOIN_SLACK
    for result in Delivery.objects.filter(queue_id__in=queue_ids, logged_at__gte=oldest).order_by(
        "logged_at", "id"
    ):
        by_queue.setdefault(result.queue_id, []).append(result)
    out = {}
    for message in messages:
        rows = [
            r
            for r in by_queue.get(message.queue_id, [])
            if r.logged_at >= message.sent_at - JOIN_SLACK
        ]
        latest = _latest(rows)
        if latest:
            out[message.pk] = max((r.status for r in latest.values()), key=SEVERITY.__getitem__)
    return out


def messages_delivery_attach(messages: list[OutboundMessage]) -> None:
    """Set each message's `delivery` (its status, or "") and `delivery_label` for a page."""
    statuses = messages_delivery(messages)
    for message in messages:
        status = statuses.get(message.pk, "")
        message.delivery = status
        message.delivery_label = DeliveryStatus(status).label if status else ""


def _latest(results: list[Delivery]) -> dict[str, Delivery]:
    """Each recipient's latest result, in time order; an expired message gives up every
    recipient not delivered by then."""
    latest: dict[str, Delivery] = {}
    for result in results:
        if not result.recipient:
            for recipient, before in list(latest.items()):
                if before.status != DeliveryStatus.DELIVERED:
                    latest[recipient] = result
            if not latest:
                latest[""] = result
            continue
        latest[result.recipient] = result
    return latest


def deliveries_expire(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete results logged before `before` (the message history's retention)."""
    deleted = 0
    while True:
        ids = list(
            Delivery.objects.filter(logged_at__lt=before)
            .order_by("logged_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += Delivery.objects.filter(pk__in=ids).delete()[0]
