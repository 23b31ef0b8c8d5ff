"""The worker's cost per message, in one process: pushes as the endpoint stores them (the
corpus of bench/ingest.py, verdicts drawn here, no Rspamd), then one drain of them all
(`ingest_events_drain`, what the worker task runs). No HTTP, no Celery: what recording
itself costs, PostgreSQL's share included: the wall time, and the CPU of this process and
of PostgreSQL's (from /proc). `--profile` prints where this process's CPU goes.

    make bench-drain            # or: python bench/drain.py --messages 2000 --profile
    make bench-drain BENCH_ARGS="--history 1000000"   # with 10^6 messages stored first
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import time

from common import DEFAULT_DB, fill_history, recreate_database, setup_django
from load import cpu_by_role
from pushes import corpus, push_headers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--spam-ratio", type=float, default=0.08)
    parser.add_argument("--profile", action="store_true", help="cProfile, top functions")
    parser.add_argument(
        "--history", type=int, default=0, help="messages stored first (bench/common.py)"
    )
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    if args.messages < 100 or not 0 <= args.spam_ratio <= 1 or args.history < 0:
        parser.error("--messages >= 100, 0 <= --spam-ratio <= 1 and --history >= 0")

    recreate_database(args.database)
    setup_django(
        args.database,
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        CELERY_BROKER_URL="memory://",  # the drain queues nothing the bench waits for
        LOG_LEVEL="WARNING",
    )
    from django.db import connection

    from hosting.models import CustomerAccount, Domain, Hosting, Mailbox
    from ingest.events import ingest_event_create, ingest_events_drain, push_meta

    customer = CustomerAccount.objects.create(name="bench", contact_email="b@example.net")
    senders = []
    for d in range(20):
        hosting = Hosting.objects.create(customer=customer, name=f"h{d}")
        domain = Domain.objects.create(hosting=hosting, name=f"shop{d}.example")
        boxes = [
            Mailbox.objects.create(domain=domain, address=f"box{b}@{domain.name}")
            for b in range(10)
        ]
        senders += [box.address for box in boxes]
        if d == 0 and args.history:
            # As bench/ingest.py's (d): the history on the first domain's mailboxes.
            fill_history(
                mailbox_ids=[box.pk for box in boxes],
                domain_id=domain.pk,
                hosting_id=hosting.pk,
                rows=args.history,
            )
    rng = random.Random(7)
    for item in corpus(rng, senders, args.messages, args.spam_ratio):
        spam = rng.random() < args.spam_ratio
        verdict = {
            "score": 12.0 if spam else 1.5,
            "action": "add header" if spam else "no action",
            "symbols": {"BAYES_SPAM" if spam else "BAYES_HAM": {"score": 3.0, "options": []}},
        }
        meta = push_meta(push_headers(item, verdict, "D"))
        ingest_event_create(kind="push", meta=meta, raw=item["raw"])

    statements = 0

    def counted(execute, sql, params, many, context):
        # The ORM's statements: a count this busy machine's timing noise does not move.
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    # CPU time, not wall time: waiting on PostgreSQL is PostgreSQL's CPU, counted apart.
    profile = cProfile.Profile(time.process_time) if args.profile else None
    postgres_before = cpu_by_role().get("PostgreSQL", 0.0)
    cpu_before = time.process_time()
    started = time.perf_counter()
    if profile:
        profile.enable()
    with connection.execute_wrapper(counted):
        drained = ingest_events_drain(queue="celery")
    if profile:
        profile.disable()
    elapsed = time.perf_counter() - started
    worker_ms = (time.process_time() - cpu_before) / drained * 1e3
    postgres_ms = (cpu_by_role().get("PostgreSQL", 0.0) - postgres_before) / drained * 1e3
    per = elapsed / drained * 1e3
    print(f"drained {drained:,} pushes in {elapsed:.2f} s: {per:.2f} ms per message")
    print(f"SQL statements through the ORM: {statements / drained:.3f} per message")
    print(f"CPU per message: this process {worker_ms:.3f} ms, PostgreSQL {postgres_ms:.3f} ms")
    if profile:
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
