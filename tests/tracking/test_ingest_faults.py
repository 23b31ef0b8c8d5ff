"""Nothing pushed is lost or stored twice: worker killed, Redis restarted, PostgreSQL
connections dropped, Rspamd stopped. Real Rspamd, real Celery workers, real Redis."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ingest.events import REQUEUE_AFTER, ingest_event_create, ingest_events_requeue, scan_meta
from tests.factories import MailboxFactory
from tests.harness.redis_service import celery_broker, private_redis
from tests.tracking.faults import (
    backend_pid,
    postgresql_unreachable,
    terminate_other_connections,
)
from tests.tracking.mail import mta_scan, mta_send, spam
from tests.workers import celery_worker, wait_until
from tracking.models import IngestEvent, OutboundMessage

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def senders(count: int) -> list[str]:
    """One mailbox of its own domain per message: each spam starts its sender's L-SPAM00,
    and no later message meets a block (Rspamd would refuse it, and a refused message's
    record is best effort: see deploy/rspamd/README.md)."""
    return [MailboxFactory().address for _ in range(count)]


def push_many(rspamd, addresses: list[str], prefix: str) -> None:
    for n, sender in enumerate(addresses):
        mta_send(rspamd.url, spam(sender, n), sender=sender, queue_id=f"{prefix}{n:04d}")


def recover_lost_tasks() -> None:
    """What the beat job does once REQUEUE_AFTER has passed."""
    ingest_events_requeue(now=timezone.now() + REQUEUE_AFTER + timedelta(seconds=1))


def assert_each_stored_once(prefix: str, count: int, log) -> None:
    done = wait_until(
        lambda: (
            OutboundMessage.objects.filter(queue_id__startswith=prefix).count() >= count
            and not IngestEvent.objects.exists()
        ),
        timeout=90,
    )
    stored = list(
        OutboundMessage.objects.filter(queue_id__startswith=prefix).values_list(
            "queue_id", flat=True
        )
    )
    assert done, f"{len(stored)}/{count} stored; worker log:\n{log.read_text()[-3000:]}"
    assert sorted(stored) == [f"{prefix}{n:04d}" for n in range(count)]


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    ingest_settings, rspamd, redis_client, tmp_path
):
    redis_client.flushdb()
    log = tmp_path / "worker.log"
    with celery_worker(concurrency=2, log=log) as worker:
        pusher = threading.Thread(target=push_many, args=(rspamd, senders(60), "K"))
        pusher.start()
        assert wait_until(
            lambda: OutboundMessage.objects.filter(queue_id__startswith="K").count() >= 10
        )
        os.killpg(worker.pid, signal.SIGKILL)
        pusher.join()
    assert OutboundMessage.objects.filter(queue_id__startswith="K").count() < 60

    with celery_worker(concurrency=2, log=tmp_path / "worker2.log"):
        recover_lost_tasks()
        assert_each_stored_once("K", 60, tmp_path / "worker2.log")


def test_a_redis_restart_loses_and_duplicates_nothing(
    ingest_settings, rspamd, redis_client, tmp_path
):
    log = tmp_path / "worker.log"
    with private_redis() as broker, celery_broker(broker.url):
        ingest_settings.CELERY_BROKER_URL = broker.url  # for the worker process too
        with celery_worker(log=log):
            push_many(rspamd, senders(15), "R")
            broker.stop()
            # The panel still accepts pushes: the events are in PostgreSQL.
            push_many(rspamd, senders(15), "S")
            broker.start()
            recover_lost_tasks()
            assert_each_stored_once("R", 15, log)
            assert_each_stored_once("S", 15, log)


def test_dropped_postgresql_connections_lose_and_duplicate_nothing(
    ingest_settings, rspamd, redis_client, tmp_path
):
    redis_client.flushdb()
    log = tmp_path / "worker.log"
    stop = threading.Event()
    test_pid = backend_pid()

    def drop_connections() -> None:
        # The worker's and the web server's connections; not this test's own.
        try:
            while not stop.wait(0.5):
                terminate_other_connections(test_pid)
        finally:
            connection.close()

    with celery_worker(concurrency=2, log=log):
        push_many(rspamd, senders(20), "P")
        assert_each_stored_once("P", 20, log)
        # The worker keeps its connections between tasks (CONN_MAX_AGE): a sweep left to
        # chance could miss them (40 pushes take less than a second), this one cannot.
        assert terminate_other_connections(test_pid) > 0
        dropper = threading.Thread(target=drop_connections)
        dropper.start()
        try:
            push_many(rspamd, senders(20), "Q")
        finally:
            stop.set()
            dropper.join()
        recover_lost_tasks()
        assert_each_stored_once("Q", 20, log)
    assert OutboundMessage.objects.filter(queue_id__startswith="P").count() == 20


def test_a_push_while_postgresql_is_down_is_deferred_by_rspamd_and_stored_once_when_sent_again(
    ingest_settings, rspamd, mailbox, redis_client, tmp_path
):
    redis_client.flushdb()
    log = tmp_path / "worker.log"
    raw = spam(mailbox.address)
    with postgresql_unreachable():
        verdict = mta_scan(
            rspamd.url, raw, sender=mailbox.address, queue_id="D0000", user=mailbox.address
        )
    # The panel answered 503: Rspamd's exporter (defer = true) has the MTA try again later.
    assert verdict["action"] == "soft reject", rspamd.output()[-2000:]
    assert not IngestEvent.objects.exists()
    with celery_worker(log=log):
        assert mta_send(rspamd.url, raw, sender=mailbox.address, queue_id="D0000") == 1
        assert_each_stored_once("D", 1, log)


def test_scans_wait_while_rspamd_is_stopped_and_go_through_when_it_is_back(
    ingest_settings, mailbox, redis_client, tmp_path
):
    from tests.harness.rspamd import Rspamd

    own = Rspamd().start()  # scan-only: its own ports, stopped and started by this test
    ingest_settings.RSPAMD_URL = own.url
    redis_client.flushdb()
    log = tmp_path / "worker.log"
    try:
        own.stop()
        with celery_worker(log=log):
            for n in range(10):
                meta = scan_meta(
                    sender=mailbox.address,
                    recipients=["friend@example.org"],
                    user=mailbox.address,
                    ip=None,
                    queue_id=f"Z{n:04d}",
                )
                ingest_event_create(
                    kind=IngestEvent.Kind.SCAN, meta=meta, raw=spam(mailbox.address, n)
                )
            assert wait_until(
                lambda: IngestEvent.objects.filter(attempts__gte=1).count() == 10, timeout=30
            ), log.read_text()[-2000:]
            assert not OutboundMessage.objects.exists()
            own.start()
            assert_each_stored_once("Z", 10, log)
        assert "unreachable" in log.read_text()
    finally:
        own.cleanup()
