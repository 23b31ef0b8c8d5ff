"""Deliveries sent by a real Celery worker after the commit of what they tell."""

from __future__ import annotations

import json
import time

import pytest
from django.utils import timezone

from tests.abuse.helpers import spam_at
from tests.webhooks.receiver import Answer, Receiver
from tests.workers import celery_worker, wait_until
from webhooks.events import Event
from webhooks.models import Delivery, Endpoint
from webhooks.services import deliveries_queue

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_block_reaches_the_receiver_through_the_worker_once_even_when_redelivered(
    mailbox, redis_client, tmp_path
):
    redis_client.flushdb()
    with Receiver(lambda n: Answer(delay=0.3)) as receiver:
        endpoint = Endpoint.objects.create(
            name="client area", url=receiver.url, events=[Event.BLOCK_STARTED]
        )
        spam_at(mailbox.address, timezone.now(), 1)  # committed: its task is queued
        delivery = Delivery.objects.get()
        deliveries_queue([delivery.pk, delivery.pk])  # the task delivered twice more
        with celery_worker(concurrency=2, log=tmp_path / "worker.log"):
            arrived = wait_until(lambda: len(receiver.received) >= 1)
            done = wait_until(lambda: Delivery.objects.filter(delivered_at__isnull=False).exists())
            time.sleep(1.5)  # the duplicates had time to run
    log = (tmp_path / "worker.log").read_text()
    assert arrived and done, log
    assert len(receiver.received) == 1, log
    body = json.loads(receiver.received[0].body)
    assert (body["event"], body["data"]["target"]) == ("block.started", mailbox.address)
    assert endpoint.deliveries.get().attempts == 1


def test_the_retry_job_sends_a_delivery_whose_task_was_lost(mailbox, redis_client, tmp_path):
    from webhooks.tasks import retry_webhooks

    with Receiver() as receiver:
        Endpoint.objects.create(name="crm", url=receiver.url, events=[Event.BLOCK_STARTED])
        spam_at(mailbox.address, timezone.now(), 1)
        redis_client.flushdb()  # the broker lost the delivery's task
        with celery_worker(log=tmp_path / "worker.log"):
            retry_webhooks.delay()
            arrived = wait_until(lambda: len(receiver.received) == 1)
    assert arrived, (tmp_path / "worker.log").read_text()
