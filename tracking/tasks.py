from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from tracking.partitions import partitions_ensure
from tracking.services import message_contents_sweep

# Beat jobs on the database: a lost connection is retried, anything else waits for its next run.
DATABASE_JOB = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(**DATABASE_JOB)
def sweep_message_content() -> int:
    return message_contents_sweep()


@shared_task(**DATABASE_JOB)
def ensure_partitions() -> int:
    return partitions_ensure(now=timezone.now())
