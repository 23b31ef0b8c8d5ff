from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from webhooks.models import Delivery
from webhooks.services import (
    webhook_deliveries_purge,
    webhook_deliveries_queue_due,
    webhook_delivery_attempt,
)


# The receiver's own failures are not retried here: the delivery keeps its schedule in
# its row (webhook_delivery_attempt queues the next attempt), so only the database is.
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def deliver_webhook(delivery_id: int) -> str:
    if not Delivery.objects.filter(pk=delivery_id).exists():
        return "gone"
    return webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def retry_webhooks() -> int:
    return webhook_deliveries_queue_due()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def purge_webhook_deliveries() -> int:
    return webhook_deliveries_purge()
