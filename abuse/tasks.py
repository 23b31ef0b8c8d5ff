from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import OperationalError

from abuse.bounces import (
    bounce_warning_notify,
    bounce_warnings_issue,
    bounce_warnings_notify_pending,
)
from abuse.notifications import block_notify, blocks_notify_pending, warning_notify
from abuse.retention import message_history_expire
from abuse.services import blocks_lift_expired, blockstate_rebuild
from webhooks.emails import MAIL_TASK_OPTIONS


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def lift_expired_blocks() -> int:
    return blocks_lift_expired()


@shared_task(autoretry_for=(OperationalError, smtplib.SMTPException, OSError), **MAIL_TASK_OPTIONS)
def notify_block(block_id: int) -> bool:
    return block_notify(block_id=block_id)


@shared_task(autoretry_for=(OperationalError, smtplib.SMTPException, OSError), **MAIL_TASK_OPTIONS)
def notify_warning(warning_id: int) -> bool:
    return warning_notify(warning_id=warning_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def notify_pending_blocks() -> int:
    return blocks_notify_pending()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def rebuild_block_state() -> int:
    return blockstate_rebuild()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def expire_message_history() -> int:
    return message_history_expire()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def issue_bounce_warnings() -> int:
    return bounce_warnings_issue() + bounce_warnings_notify_pending()


@shared_task(autoretry_for=(OperationalError, smtplib.SMTPException, OSError), **MAIL_TASK_OPTIONS)
def notify_bounce_warning(warning_id: int) -> bool:
    return bounce_warning_notify(warning_id=warning_id)
