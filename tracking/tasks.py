from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from tracking.services import message_contents_sweep


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def sweep_message_content() -> int:
    return message_contents_sweep()
