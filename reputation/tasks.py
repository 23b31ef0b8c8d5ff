from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import OperationalError

from reputation.blocklists import blocklists_check
from reputation.rates import complaint_warning_notify, complaint_warnings_sweep
from webhooks.emails import MAIL_TASK_OPTIONS


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def issue_complaint_warnings() -> int:
    return complaint_warnings_sweep()[0]


@shared_task(autoretry_for=(OperationalError, smtplib.SMTPException, OSError), **MAIL_TASK_OPTIONS)
def notify_complaint_warning(warning_id: int) -> bool:
    return complaint_warning_notify(warning_id=warning_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def check_blocklists() -> int:
    return blocklists_check().changed
