"""Does recording a spam message cost the same with 10^6 messages already stored?

Runs against its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/lwsmail_bench), which it recreates.
Prints per-message timings on an empty history and on a large one, and the ratio.

    make bench-engine            # or: python bench/engine.py --history 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret-0123456789abcdef0123456789")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lwsmail.settings")
    import django

    django.setup()


def recreate_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def fill_history(*, mailbox_ids: list[int], domain_id: int, hosting_id: int, rows: int) -> float:
    """Insert `rows` messages over the last two years with one SQL statement: ham at any
    age, and 5 % spam older than every window (a past offender's record)."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO tracking_outboundmessage
              (identity, hosting_id, domain_id, mailbox_id, sender, authenticated_user, source,
               script, recipients, recipients_text, subject, size, rspamd_server, queue_id,
               message_id, sent_at, received_at, score, action, status, is_spam, code)
            SELECT md5('h' || g), %(hosting)s, %(domain)s, (%(boxes)s::bigint[])[1 + g %% %(n)s],
                   'history@bench.example', '', 'mailbox', '', '["x@example.org"]',
                   'x@example.org', 'History ' || g, 2048, 'bench', 'H' || g, '',
                   CASE WHEN g %% 20 = 0
                        THEN now() - interval '121 days' - (g %% 31536000) * interval '1 second'
                        ELSE now() - (g %% 63072000) * interval '1 second' END,
                   now(), CASE WHEN g %% 20 = 0 THEN 12.0 ELSE 1.0 END, 'no action', 'sent',
                   g %% 20 = 0, ''
            FROM generate_series(1, %(rows)s) AS g
            """,
            {
                "hosting": hosting_id,
                "domain": domain_id,
                "boxes": mailbox_ids,
                "n": len(mailbox_ids),
                "rows": rows,
            },
        )
        # A live table has been vacuumed; without this, autovacuum of the fresh million
        # rows runs during the measurement.
        cur.execute("VACUUM ANALYZE tracking_outboundmessage")
    return time.perf_counter() - started


def measure(*, addresses: list[str], count: int, label: str) -> list[float]:
    from django.utils import timezone

    from tracking.services import MessageData, message_record

    timings = []
    for i in range(count):
        data = MessageData(
            sender=addresses[i % len(addresses)],
            authenticated_user=addresses[i % len(addresses)],
            recipients=["x@example.org"],
            sent_at=timezone.now() - timedelta(seconds=i),
            score=12.0 if i % 2 else 1.0,
            action="add header",
            queue_id=f"{label}{i:08d}",
            rspamd_server="bench",
            raw=b"Subject: x\r\n\r\nbody\r\n",
        )
        started = time.perf_counter()
        message_record(data=data)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000, help="messages already stored")
    parser.add_argument("--messages", type=int, default=2000, help="messages recorded per run")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lwsmail_bench"
        ),
    )
    args = parser.parse_args()
    if args.history < 1 or args.messages < 10:
        parser.error("--history must be >= 1 and --messages >= 10")

    recreate_database(args.database)
    setup_django(args.database)
    from django.core.management import call_command

    from lwsmail.models import CustomerAccount, Domain, Hosting, Mailbox

    call_command("migrate", verbosity=0)
    customer = CustomerAccount.objects.create(name="bench", contact_email="b@example.net")

    def hosting_with_boxes(name: str) -> tuple[Hosting, Domain, list[Mailbox]]:
        # One hosting per phase, so both start from the same block state.
        hosting = Hosting.objects.create(customer=customer, name=name)
        domain = Domain.objects.create(hosting=hosting, name=f"{name}.example")
        boxes = [
            Mailbox.objects.create(domain=domain, address=f"box{i}@{domain.name}")
            for i in range(100)
        ]
        return hosting, domain, boxes

    _h, _d, warm_boxes = hosting_with_boxes("warm")
    _h, _d, empty_boxes = hosting_with_boxes("empty")
    hosting, domain, full_boxes = hosting_with_boxes("full")
    measure(addresses=[b.address for b in warm_boxes], count=200, label="warm")
    empty = measure(addresses=[b.address for b in empty_boxes], count=args.messages, label="e")
    filled = fill_history(
        mailbox_ids=[b.pk for b in full_boxes],
        domain_id=domain.pk,
        hosting_id=hosting.pk,
        rows=args.history,
    )
    full = measure(addresses=[b.address for b in full_boxes], count=args.messages, label="f")

    def row(name: str, t: list[float]) -> str:
        q = statistics.quantiles(t, n=100)
        return f"{name:<28}{statistics.median(t) * 1e3:>9.2f}{q[94] * 1e3:>9.2f}{q[98] * 1e3:>9.2f}"

    print(f"history inserted: {args.history:,} messages in {filled:.1f} s")
    print(f"{'record one message (ms)':<28}{'p50':>9}{'p95':>9}{'p99':>9}")
    print(row("empty history", empty))
    print(row(f"{args.history:,} stored", full))
    ratio = statistics.median(full) / statistics.median(empty)
    print(f"per-message cost ratio (full/empty, p50): {ratio:.2f}")


if __name__ == "__main__":
    main()
