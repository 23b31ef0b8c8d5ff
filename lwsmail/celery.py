from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lwsmail.settings")

app = Celery("lwsmail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Tasks that send an e-mail: the SMTP server may be down for a while (late ack, retries
# spread over about an hour); what they send is guarded by a row lock, so a retry is safe.
MAIL_TASK_OPTIONS = {
    "acks_late": True,
    "retry_backoff": 10,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
}
