"""The messages the mail-host agents hold in Postfix's queue (mxagent/queue.py): each
host's report replaces its previous one whole; staff may ask for held ones to be deleted,
which the agent does on its next pass."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from hosting.services import audit_record
from tracking.models import QueuedMessage

QUEUE_ID = re.compile(r"[0-9A-Za-z]{5,32}")
MAX_HELD = 10_000  # one report; a host holding more reports the first ones


@dataclass(frozen=True)
class HeldReplaced:
    held: int
    invalid: int


def _held_clean(item: object, *, host: str, now: datetime) -> QueuedMessage | None:
    if not isinstance(item, dict):
        return None
    queue_id, sender = item.get("queue_id"), item.get("sender")
    recipients, subject, arrived = item.get("recipients"), item.get("subject"), item.get("arrived")
    if not isinstance(queue_id, str) or not QUEUE_ID.fullmatch(queue_id):
        return None
    if not isinstance(sender, str) or len(sender) > 254 or "\x00" in sender:
        return None
    if not isinstance(recipients, list) or not all(
        isinstance(r, str) and len(r) <= 254 for r in recipients
    ):
        return None
    if subject is not None and not isinstance(subject, str):
        return None
    arrived_at = None
    if arrived is not None:
        if isinstance(arrived, bool) or not isinstance(arrived, int | float):
            return None
        if not 0 < arrived < 1e10:
            return None
        arrived_at = datetime.fromtimestamp(arrived, UTC)
    return QueuedMessage(
        host=host,
        queue_id=queue_id,
        sender=sender.lower(),
        recipients=[r.replace("\x00", "").lower() for r in recipients[:1000]],
        subject=(subject or "").replace("\x00", "")[:998],
        arrived_at=arrived_at,
        reported_at=now,
    )


def queue_held_replace(*, host: str, items: list, now: datetime | None = None) -> HeldReplaced:
    """One host's held messages, as it reports them now: what it no longer holds goes, a
    deletion staff asked for stays asked until the message is gone."""
    now = now or timezone.now()
    rows = [_held_clean(item, host=host, now=now) for item in items[:MAX_HELD]]
    valid = {row.queue_id: row for row in rows if row is not None}
    with transaction.atomic():
        with connection.cursor() as cursor:  # one host's reports one after the other
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"queue:{host}"])
        asked = dict(
            QueuedMessage.objects.filter(host=host, delete_requested_at__isnull=False).values_list(
                "queue_id", "delete_requested_at"
            )
        )
        QueuedMessage.objects.filter(host=host).delete()
        for queue_id, row in valid.items():
            row.delete_requested_at = asked.get(queue_id)
        QueuedMessage.objects.bulk_create(valid.values())
    return HeldReplaced(held=len(valid), invalid=len(rows) - len(valid))


def queue_delete_request(*, messages: QuerySet[QueuedMessage], user, client_ip=None) -> int:
    """Ask the agents to delete these held messages from their queues; audited."""
    now = timezone.now()
    asked = list(messages.filter(delete_requested_at__isnull=True))
    QueuedMessage.objects.filter(pk__in=[m.pk for m in asked]).update(delete_requested_at=now)
    for message in asked:
        audit_record(
            action="queue.delete_requested",
            actor=user,
            subject=message.sender,
            data={"host": message.host, "queue_id": message.queue_id},
            client_ip=client_ip,
            at=now,
        )
    return len(asked)


def queue_deletions(*, host: str) -> list[str]:
    """The queue ids staff asked this host to delete."""
    return list(
        QueuedMessage.objects.filter(host=host, delete_requested_at__isnull=False).values_list(
            "queue_id", flat=True
        )
    )


def held_for(*, domains: list[str]) -> QuerySet[QueuedMessage]:
    """The held messages of every sender of these domains."""
    query = Q()
    for domain in domains:
        query |= Q(sender__iendswith=f"@{domain}")
    return QueuedMessage.objects.filter(query) if domains else QueuedMessage.objects.none()
