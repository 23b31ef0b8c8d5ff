from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from abuse.services import blocks_lift_expired


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def lift_expired_blocks() -> int:
    return blocks_lift_expired()
