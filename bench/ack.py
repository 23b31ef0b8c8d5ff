"""What one push's acknowledgement costs the panel, in process, and where it goes.

Pushes shaped as Rspamd's metadata_exporter sends them go through Django's test client
(the whole handler, real PostgreSQL and Redis, database BENCH_DATABASE_URL recreated) in
four ways, in interleaved rounds so that a slow moment of this shared machine falls on
all four: every middleware and a Celery task per push (as before the shortcut), the
ingest shortcut with a task per push, the shortcut with the drain flag, and (as
deployed) the WSGI application whose fast path answers ahead of Django's handler.

  make bench-ack
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import DEFAULT_DB, recreate_database, setup_django

PASSWORD = "bench-ack-password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--pushes", type=int, default=300, help="per round and way")
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    if args.rounds < 1 or args.pushes < 1:
        parser.error("--rounds and --pushes must be >= 1")
    recreate_database(args.database)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    setup_django(
        args.database,
        INGEST_PASSWORD=PASSWORD,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        DJANGO_ALLOWED_HOSTS="testserver",
        LOG_LEVEL="WARNING",
    )
    import redis
    from django.conf import settings
    from django.test import Client, override_settings

    import ingest.events as events
    from tests.tracking.push import auth, push_headers, raw_message
    from tests.tracking.wsgi_client import WSGIClient

    redis.Redis.from_url(redis_url).flushdb()
    with override_settings(
        MIDDLEWARE=[m for m in settings.MIDDLEWARE if not m.endswith("IngestShortcutMiddleware")]
    ):
        every_middleware = Client()
        every_middleware.get("/")  # the handler loads its middleware under these settings
    shortcut = Client()
    shortcut.get("/")
    drain_wake = events._drain_wake

    def task_per_push() -> None:
        events._enqueue([0])  # what ingest_event_create did after the commit

    ways = {
        "every middleware, a task per push": (every_middleware, task_per_push),
        "ingest shortcut, a task per push": (shortcut, task_per_push),
        "ingest shortcut, drain flag": (shortcut, drain_wake),
        "WSGI fast path, drain flag (as deployed)": (WSGIClient(), drain_wake),
    }
    body = raw_message("bench@ack.example")
    n = 0

    def push(client: Client | WSGIClient) -> None:
        nonlocal n
        n += 1
        headers = push_headers(sender="bench@ack.example", qid=f"A{n:09d}")
        headers["Authorization"] = auth(password=PASSWORD)
        response = client.generic("POST", "/api/ingest/rspamd/", body, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"push refused: {response.status_code} {response.content[:200]!r}")

    results: dict[str, list[float]] = {name: [] for name in ways}
    # This process's CPU (the client's share included, the same in every way): waiting on
    # PostgreSQL's commit is wall time, not CPU.
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, (client, wake) in ways.items():
            events._drain_wake = wake
            for _ in range(20):
                push(client)
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(args.pushes):
                push(client)
            results[name].append((time.perf_counter() - started) / args.pushes * 1e3)
            cpu[name].append((time.process_time() - cpu_started) / args.pushes * 1e3)
    events._drain_wake = drain_wake
    redis.Redis.from_url(redis_url).flushdb()
    for name, values in results.items():
        print(
            f"{name:<45}{statistics.median(values):>6.2f} ms per ack, "
            f"{statistics.median(cpu[name]):.2f} ms CPU (medians of rounds)"
        )


if __name__ == "__main__":
    main()
