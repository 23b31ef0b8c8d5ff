"""Two web processes and two workers on separate queues, as on two hosts, against one
PostgreSQL and one Redis: every message counted once, every block at its threshold."""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest

from abuse.models import Block
from tests.harness.common import free_port, listening, wait_for
from tests.tracking.push import PASSWORD, push_headers, raw_message
from tests.workers import celery_worker, wait_until, worker_env
from tracking.models import IngestEvent, OutboundMessage

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def web(queue: str, tmp_path, stack: ExitStack) -> str:
    from tests.harness.common import background

    port = free_port()
    env = {**worker_env(), "INGEST_PASSWORD": PASSWORD, "INGEST_QUEUE": queue}
    env |= {"DJANGO_ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0"}
    args = [sys.executable, "-m", "gunicorn", "lwsmail.wsgi", "--bind", f"127.0.0.1:{port}"]
    args += ["--config", "gunicorn.conf.py", "--workers", "1"]  # as deployed, one process
    stack.enter_context(background(args, env=env, log=tmp_path / f"web-{queue}.log"))
    wait_for(lambda: listening(port), timeout=30, what=f"gunicorn for {queue}")
    return f"http://127.0.0.1:{port}/api/ingest/rspamd/"


def test_two_webs_and_two_workers_keep_counts_and_blocks_exact(mailbox, redis_client, tmp_path):
    redis_client.flushdb()
    with ExitStack() as stack:
        urls = [web(queue, tmp_path, stack) for queue in ("host-a", "host-b")]
        for queue in ("host-a", "host-b"):
            stack.enter_context(
                celery_worker(concurrency=2, queues=queue, log=tmp_path / f"worker-{queue}.log")
            )

        def push(n: int) -> list[int]:
            # Every message to both hosts: the second copy must be stored nowhere.
            body = raw_message(mailbox.address, subject=f"WIN {n}")
            headers = push_headers(sender=mailbox.address, qid=f"TWO{n:03d}")
            codes = []
            for url in (urls[n % 2], urls[(n + 1) % 2]):
                codes.append(httpx.post(url, content=body, headers=headers, timeout=30).status_code)
            return codes

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(push, range(45)))
        assert codes == [[200, 200]] * 45

        def recorded(queue: str) -> list[int]:
            # What each of the worker's drains returned: how many pushes it recorded.
            log = (tmp_path / f"worker-{queue}.log").read_text()
            return [
                int(n)
                for n in re.findall(r"drain_ingest_events\[[^]]+\] succeeded in [^:]+: (\d+)", log)
            ]

        def settled(queue: str) -> bool:
            # Every drain this worker received has returned: one still lingering or taking
            # its last look after the messages are all stored would be killed mid-task.
            log = (tmp_path / f"worker-{queue}.log").read_text()
            received = len(re.findall(r"drain_ingest_events\[[^]]+\] received", log))
            return received > 0 and received == len(recorded(queue))

        def done() -> bool:
            return (
                not IngestEvent.objects.exists()
                and OutboundMessage.objects.filter(queue_id__startswith="TWO").count() >= 45
                and all(settled(queue) for queue in ("host-a", "host-b"))
            )

        ok = wait_until(done, timeout=120)
        assert ok, "\n".join(p.read_text()[-1500:] for p in tmp_path.glob("*.log"))

    assert OutboundMessage.objects.filter(queue_id__startswith="TWO").count() == 45
    assert OutboundMessage.objects.filter(mailbox=mailbox, is_spam=True).count() == 45
    # Both hosts' workers drained, and between them took each of the 90 pushes once (the
    # second copy of a message is taken too, and stored nowhere).
    assert sum(recorded("host-a")) + sum(recorded("host-b")) == 90
    blocks = list(Block.objects.filter(target=mailbox.address).order_by("id"))
    assert [(b.code, b.spam_count) for b in blocks] == [
        ("L-SPAM00", 1),
        ("L-SPAM10", 20),
        ("L-SPAM20", 40),
    ]
    assert Block.objects.unlifted().filter(target=mailbox.address).count() == 1
