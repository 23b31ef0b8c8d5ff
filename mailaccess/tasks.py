from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone
from redis import RedisError

from hosting.redis import client
from mailaccess.inactivity import inactivity_sweep
from mailaccess.notifications import failed_logins_notify
from mailaccess.services import access_log_maintain, attempts_record, login_defence_publish
from webhooks.emails import MAIL_TASK_OPTIONS

# A burst is recorded in batches; the beat job takes what is left.
MAX_BATCHES = 50


@shared_task(autoretry_for=(OperationalError, RedisError), retry_backoff=True, max_retries=5)
def record_attempts() -> int:
    redis, taken = client(), 0
    for _ in range(MAX_BATCHES):
        n = attempts_record(redis=redis)
        taken += n
        if n == 0:
            break
    return taken


@shared_task(autoretry_for=(OperationalError, smtplib.SMTPException, OSError), **MAIL_TASK_OPTIONS)
def alert_failed_logins(login: str) -> bool:
    return failed_logins_notify(login=login)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def maintain_access_log() -> tuple[int, list[str]]:
    return access_log_maintain(now=timezone.now())


@shared_task(autoretry_for=(OperationalError, RedisError), retry_backoff=True, max_retries=3)
def publish_login_defence() -> None:
    login_defence_publish(redis=client())


@shared_task(autoretry_for=(OperationalError, smtplib.SMTPException, OSError), **MAIL_TASK_OPTIONS)
def sweep_inactive_mailboxes() -> dict:
    swept = inactivity_sweep(now=timezone.now())
    return {"warned": len(swept.warned), "suspended": len(swept.suspended)}
