from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import OperationalError
from redis import RedisError

from hosting.redis import client
from limits.notifications import hold_notify
from limits.services import (
    hold_record,
    holds_sync,
    mailbox_baselines_compute,
    webhook_limits_reached_emit,
)
from limits.state import limits_rebuild
from webhooks.emails import MAIL_TASK_OPTIONS


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def rebuild_limits() -> int:
    return limits_rebuild()


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, RedisError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def record_hold(address: str, entry: dict) -> int | None:
    hold = hold_record(address=address, entry=entry)
    return hold.pk if hold is not None else None


@shared_task(autoretry_for=(OperationalError, smtplib.SMTPException, OSError), **MAIL_TASK_OPTIONS)
def notify_hold(hold_id: int) -> bool:
    return hold_notify(hold_id=hold_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def sync_holds() -> int:
    return holds_sync()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def compute_baselines() -> int:
    return mailbox_baselines_compute()


@shared_task(autoretry_for=(OperationalError, RedisError), retry_backoff=True, max_retries=3)
def emit_limits_reached() -> int:
    return webhook_limits_reached_emit(redis=client())
