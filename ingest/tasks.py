from __future__ import annotations

import contextlib
import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from ingest.events import (
    ingest_event_failed,
    ingest_event_process,
    ingest_events_drain,
    ingest_events_requeue,
)
from ingest.rspamd import RspamdUnavailable

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, RspamdUnavailable, RedisConnectionError)


# Retry what a retry can cure, with backoff for about an hour; redelivered if a worker dies.
RECORDING = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 12,
}


@shared_task(bind=True, **RECORDING)
def process_ingest_event(self, event_id: int) -> None:
    try:
        ingest_event_process(event_id=event_id)
    except Exception as exc:
        # Retries cannot cure a non-transient error: park the event for staff at once.
        park = not isinstance(exc, TRANSIENT) or self.request.retries >= self.max_retries
        log.log(
            logging.ERROR if park else logging.WARNING,
            "ingest event %s: attempt %d failed (%r)%s",
            event_id,
            self.request.retries + 1,
            exc,
            "; parked for staff" if park else "; retrying with backoff",
        )
        with contextlib.suppress(*TRANSIENT):
            ingest_event_failed(event_id=event_id, error=repr(exc), park=park)
        if not park:
            raise


@shared_task(**RECORDING)
def drain_ingest_events(queue: str) -> int:
    # An event that fails for its own reason is parked inside; a transient error retries
    # the whole drain, and the recovery sweep gives each stale event its own task.
    return ingest_events_drain(queue=queue)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, retry_jitter=True, max_retries=5)
def requeue_ingest_events() -> int:
    return ingest_events_requeue()
