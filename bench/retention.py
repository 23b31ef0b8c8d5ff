"""Retention and the content sweep at 10^6 rows: dropping whole partitions.

In one run, on this machine, against PostgreSQL (database BENCH_DATABASE_URL, recreated):

  (1) a partition (four weeks) of 10^6 messages 500 days old, and 10^4 blocks pointing at some
      of them: the time `messages_expire` takes to detach it concurrently, unlink the
      blocks and drop it;
  (2) an hour's partition of 10^6 expired content rows of 4 KiB: the time the sweep takes;

each while a writer thread records a message into the current partition every 2 ms: the
writer's longest insert during the drop says whether the drop ever held it up.

  make bench-retention
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from common import DEFAULT_DB, quantile, recreate_database, setup_django


def fill(rows: int, old: datetime, expired: datetime) -> None:
    from django.db import connection

    from hosting.models import CustomerAccount, Domain, Hosting
    from tracking.partitions import CONTENTS, MESSAGES, partitions_cover

    customer = CustomerAccount.objects.create(name="bench", contact_email="b@example.net")
    hosting = Hosting.objects.create(customer=customer, name="retention")
    domain = Domain.objects.create(hosting=hosting, name="retention.example")
    partitions_cover(scheme=MESSAGES, moments=[old])
    partitions_cover(scheme=CONTENTS, moments=[expired])
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO tracking_outboundmessage
              (identity, hosting_id, domain_id, sender, authenticated_user, source, script,
               recipients, recipients_text, subject, size, rspamd_server, queue_id,
               message_id, sent_at, received_at, score, action, status, is_spam, code)
            SELECT md5('r' || g), %(h)s, %(d)s, 'x@retention.example', '', 'website', '',
                   '["y@example.org"]', 'y@example.org', 'Old ' || g, 2048, 'bench', 'R' || g,
                   '', %(old)s + (g %% 600000) * interval '1 second', %(old)s,
                   CASE WHEN g %% 20 = 0 THEN 12.0 ELSE 1.0 END, 'no action', 'sent',
                   g %% 20 = 0, ''
            FROM generate_series(1, %(rows)s) g
            """,
            {"h": hosting.pk, "d": domain.pk, "rows": rows, "old": old},
        )
        cur.execute(
            """
            INSERT INTO tracking_messagecontent (message_id, expires_at, raw, symbols)
            SELECT g, %(at)s + (g %% 3000) * interval '1 second',
                   convert_to(repeat('x', 4096), 'UTF8'), '{}'
            FROM generate_series(1, %(rows)s) g
            """,
            {"rows": rows, "at": expired},
        )
        # 10^4 blocks, 1 in 10 started by a message of the old partition.
        cur.execute(
            """
            INSERT INTO abuse_block (scope, target, code, rank, spam_count, started_at,
              lifted_at, lift_reason, domain_id, hosting_id, tier_id, trigger_message_id)
            SELECT 'address', 'b' || g || '@retention.example', 'L-SPAM00', 0, 1,
                   %(old)s, %(old)s + interval '20 minutes', 'expired', %(d)s, %(h)s,
                   (SELECT id FROM abuse_policytier WHERE code = 'L-SPAM00'),
                   CASE WHEN g %% 10 = 0 THEN (SELECT min(id) FROM tracking_outboundmessage) + g
                        ELSE NULL END
            FROM generate_series(1, 10000) g
            """,
            {"h": hosting.pk, "d": domain.pk, "old": old},
        )
        cur.execute("VACUUM ANALYZE tracking_outboundmessage")
        cur.execute("VACUUM ANALYZE tracking_messagecontent")
        cur.execute("VACUUM ANALYZE abuse_block")


class Writer(threading.Thread):
    """Records a message into the current partition every 2 ms; keeps each insert's time."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.times: list[tuple[float, float]] = []  # (started, seconds)

    def run(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from tracking.services import MessageData, messages_store

        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                data = MessageData(
                    sender="w@retention.example",
                    recipients=["y@example.org"],
                    sent_at=timezone.now(),
                    score=1.0,
                    queue_id=f"W{n}",
                    rspamd_server="bench",
                    raw=b"Subject: now\r\n\r\nbody\r\n",
                )
                started = time.perf_counter()
                messages_store(datas=[data], now=timezone.now())
                self.times.append((started, time.perf_counter() - started))
                time.sleep(0.002)
        finally:
            connection.close()

    def during(self, since: float, until: float) -> list[float]:
        return [s for t, s in self.times if t + s >= since and t <= until]


def timed_drop(label: str, drop, writer: Writer) -> list[tuple[str, str]]:
    time.sleep(0.5)  # the writer's steady state first
    started = time.perf_counter()
    dropped = drop()
    took = time.perf_counter() - started
    inserts = writer.during(started, started + took)
    return [
        (f"{label}: partitions dropped", f"{dropped}"),
        ("  time (goal <= 1 s)", f"{took:.3f} s"),
        ("  writer's inserts during it", f"{len(inserts)}"),
        ("  writer's longest insert during it", f"{max(inserts, default=0) * 1e3:.1f} ms"),
        (
            "  writer's insert p50 before it",
            f"{quantile([s for t, s in writer.times if t < started], 50) * 1e3:.1f} ms",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be >= 1")
    recreate_database(args.database)
    setup_django(args.database, LOG_LEVEL="WARNING")
    from django.db import connection

    from tracking.partitions import CONTENTS, MESSAGES
    from tracking.services import message_contents_sweep, messages_expire

    now = datetime.now(UTC)
    old = MESSAGES.start(now - timedelta(days=500))  # a partition's first second
    expired = CONTENTS.start(now - timedelta(hours=3))  # an hour's
    started = time.perf_counter()
    fill(args.rows, old, expired)
    print(
        f"{'filled ' + format(args.rows, ',') + ' messages and content rows':<60}"
        f"{time.perf_counter() - started:>14.1f} s"
    )
    with connection.cursor() as cur:
        cur.execute("SELECT pg_total_relation_size(%s)", [MESSAGES.name(old)])
        per_message = cur.fetchone()[0] / args.rows
    print(f"{'stored per message, its indexes included':<60}{per_message:>14.0f} B")
    connection.close()

    writer = Writer()
    writer.start()
    rows = timed_drop(
        f"retention: a partition of {args.rows:,} messages",
        lambda: messages_expire(before=old + MESSAGES.step),
        writer,
    )
    rows += timed_drop(
        f"content sweep: an hour of {args.rows:,} rows of 4 KiB",
        lambda: message_contents_sweep(now=now),
        writer,
    )
    writer.stop.set()
    writer.join(10)
    from abuse.models import Block

    rows.append(
        (
            "blocks left pointing at a dropped message",
            f"{Block.objects.filter(trigger_message_id__isnull=False).count()}",
        )
    )
    for name, value in rows:
        print(f"{name:<60}{value:>16}")


if __name__ == "__main__":
    main()
