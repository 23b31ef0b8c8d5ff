"""Webhook deliveries: created in the transaction of what they report (one per endpoint
and event, whatever re-emits it), POSTed by the worker after the commit, signed, and
retried with exponential backoff for a day until the receiver answers 2xx."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hosting.counters import count
from hosting.durations import HOUR
from hosting.models import Hosting
from webhooks.destinations import RefusedDestination, destination_check, pinned_request_args
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.signing import HEADER, signature

log = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.tasks.deliver_webhook"


@dataclass(frozen=True)
class Occurrence:
    """Something that happened, as the endpoints that subscribed to `event` hear of it.
    `key` names it once: an occurrence emitted again makes no second delivery."""

    event: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)
    hosting_id: int | None = None
    at: datetime | None = None


def _body(delivery: Delivery, occurrence: Occurrence, hostings: dict[int, str]) -> str:
    hosting = occurrence.hosting_id
    return json.dumps(
        {
            "id": str(delivery.uuid),
            "event": occurrence.event,
            "occurred_at": (occurrence.at or delivery.created_at).isoformat(),
            "hosting": {"id": hosting, "name": hostings.get(hosting)} if hosting else None,
            "data": occurrence.data,
        },
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )


def webhook_events_emit(*, occurrences: Iterable[Occurrence]) -> int:
    """Create the deliveries of `occurrences` for the endpoints subscribed to them, in the
    caller's transaction, and queue them after its commit; returns how many were new."""
    occurrences = list(occurrences)
    if not occurrences:
        return 0
    endpoints = list(Endpoint.objects.active())
    wanted = [(o, e) for o in occurrences for e in endpoints if e.wants(o.event)]
    if not wanted:
        return 0
    hostings = dict(
        Hosting.objects.filter(pk__in={o.hosting_id for o, _ in wanted}).values_list("pk", "name")
    )
    now = timezone.now()
    rows = []
    for occurrence, endpoint in wanted:
        row = Delivery(
            endpoint=endpoint,
            event=occurrence.event,
            key=occurrence.key[:200],
            hosting_id=occurrence.hosting_id,
            created_at=now,
            next_attempt_at=now,
        )
        row.body = _body(row, occurrence, hostings)
        rows.append(row)
    # A conflict is the same occurrence emitted again (a redelivered task): no new row,
    # and ignore_conflicts sets no primary keys, so the new ones are found by their uuid.
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(
        Delivery.objects.filter(uuid__in=[r.uuid for r in rows]).values_list("pk", flat=True)
    )
    transaction.on_commit(lambda: deliveries_queue(ids))
    return len(ids)


def webhook_event_emit(**occurrence: Any) -> int:
    """webhook_events_emit for one occurrence (the fields of Occurrence)."""
    return webhook_events_emit(occurrences=[Occurrence(**occurrence)])


def deliveries_queue(ids: list[int], countdown: float = 0) -> None:
    from celery import current_app as app  # the project's app, whichever process runs it

    for pk in ids:
        try:
            app.send_task(DELIVER_TASK, args=[pk], countdown=countdown or None)
        except Exception:  # broker down: the retry-webhooks job sends what is due
            log.exception("webhook delivery %s not queued; the retry job will send it", pk)


def _backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling up to an hour, ±20 %."""
    seconds = min(30 * 2 ** (attempts - 1), HOUR)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def _post(delivery: Delivery) -> tuple[int | None, str]:
    """POST the delivery's body, signed now, to an address the destination check allows:
    (status, error). The answer's body is never kept: the receiver's status says enough,
    and a body is what a receiver inside the provider's network would leak."""
    try:
        [address, *_others] = destination_check(delivery.endpoint.url)
    except RefusedDestination as exc:
        return None, f"refused: {exc}"[:500]
    url, host, extensions = pinned_request_args(delivery.endpoint.url, address)
    body = delivery.body.encode()
    headers = {
        **host,
        "Content-Type": "application/json",
        "User-Agent": "lwsmail-webhooks/1",
        "X-Lwsmail-Event": delivery.event,
        "X-Lwsmail-Delivery": str(delivery.uuid),
        HEADER: signature(delivery.endpoint.secret, int(time.time()), body),
    }
    try:
        with (
            httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as c,
            c.stream("POST", url, content=body, headers=headers, extensions=extensions) as r,
        ):
            return r.status_code, ""  # the body is not read: closing drops it
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


def webhook_delivery_attempt(*, delivery_id: int) -> str:
    """POST one due delivery, by one worker only even when its task runs twice; returns
    'skipped' (not due, sent, or being sent), 'delivered', 'retrying' or 'failed'."""
    started = timezone.now()
    lease = started + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 20)
    if not Delivery.objects.due(started).filter(pk=delivery_id).update(leased_until=lease):
        return "skipped"
    delivery = Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    status, error = _post(delivery)
    now = timezone.now()
    ok = status is not None and 200 <= status < 300
    attempts = delivery.attempts + 1
    outcome = {"attempts": attempts, "leased_until": None, "last_status": status}
    if ok:
        outcome["delivered_at"] = now
        result = "delivered"
    else:
        upcoming = now + _backoff(attempts)
        if upcoming > delivery.created_at + timedelta(hours=settings.WEBHOOK_RETRY_HOURS):
            outcome["failed_at"] = now
            result = "failed"
        else:
            outcome["next_attempt_at"] = upcoming
            result = "retrying"
    with transaction.atomic():
        Attempt.objects.create(
            delivery=delivery,
            at=started,
            duration_ms=int((now - started).total_seconds() * 1000),
            status=status,
            error=error,
        )
        # Only under our own lease: past it, another worker may have taken it over.
        Delivery.objects.filter(pk=delivery.pk, leased_until=lease).update(**outcome)
        if result == "retrying":
            wait = (outcome["next_attempt_at"] - now).total_seconds()
            transaction.on_commit(lambda: deliveries_queue([delivery.pk], countdown=wait))
    count(f"webhook_attempts:{'delivered' if ok else 'failed'}")
    if result == "failed":
        count("webhook_given_up")
    if not ok:
        log.warning(
            "webhook %s to %s: %s (%s)",
            delivery.uuid,
            delivery.endpoint.url,
            status or error,
            result,
        )
    return result


def webhook_deliveries_queue_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Queue the deliveries that are due (a lost task, a broker that was down); returns how many."""
    now = now or timezone.now()
    ids = list(
        Delivery.objects.due(now).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
    deliveries_queue(ids)
    return len(ids)


def webhook_delivery_retry(*, delivery: Delivery) -> bool:
    """Staff's "send again now" for one delivery not yet delivered: one more attempt (a
    given-up one then gives up again on failure); False if it was delivered meanwhile."""
    now = timezone.now()
    changed = (
        Delivery.objects.filter(pk=delivery.pk, delivered_at__isnull=True)
        .exclude(leased_until__gt=now)
        .update(failed_at=None, next_attempt_at=now)
    )
    if changed:
        transaction.on_commit(lambda: deliveries_queue([delivery.pk]))
    return bool(changed)


def webhook_deliveries_purge(*, now: datetime | None = None) -> int:
    """Delete deliveries finished (delivered or given up) more than WEBHOOK_KEEP_DAYS ago,
    with their attempts; returns how many deliveries went."""
    before = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_KEEP_DAYS)
    old = Delivery.objects.filter(created_at__lt=before).exclude(
        delivered_at__isnull=True, failed_at__isnull=True
    )
    deleted = old.delete()[1]
    return deleted.get(Delivery._meta.label, 0)
