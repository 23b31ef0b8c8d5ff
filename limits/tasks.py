from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from limits.state import limits_rebuild


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def rebuild_limits() -> int:
    return limits_rebuild()
