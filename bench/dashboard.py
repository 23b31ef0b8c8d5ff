"""Server time of the operations dashboard (/admin/operations/) with 10^4 blocks, at 10^4
and at 10^6 messages stored across 1,000 hostings.

Requests go through the whole Django stack in-process (middleware, staff check, view,
template, PostgreSQL, Redis), as bench/tracking.py does. The messages span the last 400
days, 10 % of them spam (so the 30- and 120-day charts and this week's top spammers
count real rows); the blocks span 120 days, 200 of them standing, the rest lifted
(every address a repeat offender). Prints p50/p95 at each size and the ratio.

    make bench-dashboard     # or: python bench/dashboard.py --small 10000 --large 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import DEFAULT_DB, quantile, recreate_database, setup_django

HOSTINGS = 1000


def population() -> tuple[list[int], list[int], list[int]]:
    """1,000 hostings with a domain and a mailbox each: their ids."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO lwsmail_customeraccount (name, contact_email, language, created_at)"
            " SELECT 'c' || g, 'c' || g || '@example.net', 'en', now()"
            " FROM generate_series(1, %(n)s) g",
            {"n": HOSTINGS},
        )
        cur.execute(
            "INSERT INTO lwsmail_hosting (customer_id, name, created_at)"
            " SELECT id, 'hosting-' || id, now() FROM lwsmail_customeraccount ORDER BY id"
        )
        cur.execute(
            "INSERT INTO lwsmail_domain (hosting_id, name)"
            " SELECT id, 'site' || id || '.example' FROM lwsmail_hosting ORDER BY id"
        )
        cur.execute(
            "INSERT INTO lwsmail_mailbox (domain_id, address, password_hash, created_at)"
            " SELECT id, 'box@' || name, '', now() FROM lwsmail_domain ORDER BY id"
        )
        cur.execute(
            "SELECT d.hosting_id, d.id, m.id FROM lwsmail_domain d JOIN lwsmail_mailbox m"
            " ON m.domain_id = d.id ORDER BY d.id"
        )
        rows = cur.fetchall()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def fill_messages(rows: int, start: int, ids: tuple[list[int], list[int], list[int]]) -> None:
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from tracking.partitions import MESSAGES, partitions_cover

    now = datetime.now(UTC)
    partitions_cover(scheme=MESSAGES, moments=MESSAGES.starts(now - timedelta(days=401), now))
    hostings, domains, boxes = ids
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO tracking_outboundmessage
              (identity, hosting_id, domain_id, mailbox_id, sender, authenticated_user, source,
               script, recipients, recipients_text, subject, size, rspamd_server, queue_id,
               message_id, sent_at, received_at, score, action, status, is_spam, code)
            SELECT md5('d' || g), (%(h)s::bigint[])[1 + g %% %(n)s],
                   (%(d)s::bigint[])[1 + g %% %(n)s], (%(b)s::bigint[])[1 + g %% %(n)s],
                   'box@bench.example', '', 'mailbox', '', '["x@example.org"]', 'x@example.org',
                   'Dashboard ' || g, 2048, 'bench', 'D' || g, '',
                   now() - (g::bigint * 7919 %% 34560000) * interval '1 second', now(),
                   CASE WHEN g %% 10 = 0 THEN 12.0 ELSE 1.0 END, 'no action', 'sent',
                   g %% 10 = 0, ''
            FROM generate_series(%(start)s, %(start)s + %(rows)s - 1) AS g
            """,
            {
                "h": hostings,
                "d": domains,
                "b": boxes,
                "n": len(boxes),
                "rows": rows,
                "start": start,
            },
        )
        cur.execute("VACUUM ANALYZE tracking_outboundmessage")


def fill_blocks(count: int, ids: tuple[list[int], list[int], list[int]]) -> None:
    """`count` mail-abuse blocks over 120 days, ten per address: 200 standing (one per
    target at most), the rest lifted, so every address is a repeat offender."""
    from django.db import connection

    hostings, domains, boxes = ids
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO abuse_block
              (scope, target, hosting_id, domain_id, mailbox_id, tier_id, code, rank,
               spam_count, started_at, ends_at, complaint_ends_at, lifted_at, lift_reason)
            SELECT 'address', 'box@site' || (%(d)s::bigint[])[1 + g %% %(n)s] || '.example',
                   (%(h)s::bigint[])[1 + g %% %(n)s], (%(d)s::bigint[])[1 + g %% %(n)s],
                   (%(b)s::bigint[])[1 + g %% %(n)s], t.id, t.code, t.rank, 40,
                   now() - (g * 1037 %% 10368000) * interval '1 second',
                   NULL, NULL,
                   CASE WHEN g <= %(n)s AND g %% 5 = 0 THEN NULL
                        ELSE now() - (g * 1037 %% 10368000) * interval '1 second'
                             + interval '1 hour' END,
                   CASE WHEN g <= %(n)s AND g %% 5 = 0 THEN '' ELSE 'staff' END
            FROM generate_series(1, %(count)s) AS g
            JOIN abuse_policytier t ON t.code = 'L-SPAM20'
            """,
            {"h": hostings, "d": domains, "b": boxes, "n": len(boxes), "count": count},
        )
        cur.execute("VACUUM ANALYZE abuse_block")


def measure(client, repeat: int) -> list[float]:
    client.get("/admin/operations/")  # warm the plan cache and the buffers
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get("/admin/operations/")
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"dashboard: {response.status_code}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    if not 1_000 <= args.small < args.large or args.repeat < 5 or args.blocks < 10:
        parser.error("need 1,000 <= --small < --large, --repeat >= 5 and --blocks >= 10")

    recreate_database(args.database)
    setup_django(
        args.database,
        DJANGO_ALLOWED_HOSTS="testserver",
        LOG_LEVEL="WARNING",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        RSPAMD_URL="http://127.0.0.1:9",  # none here: the check fails fast, as it would
    )
    from django.contrib.auth import get_user_model
    from django.test import Client

    from abuse.services import blockstate_rebuild

    ids = population()
    fill_blocks(args.blocks, ids)
    blockstate_rebuild()
    staff = get_user_model().objects.create_user(
        "ops", password="x", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(staff)

    results, loaded = {}, 0
    for size in (args.small, args.large):
        fill_messages(size - loaded, loaded + 1, ids)
        loaded = size
        results[size] = measure(client, args.repeat)

    print(
        f"operations dashboard, {args.blocks:,} blocks, server time in ms ({args.repeat} requests)"
    )
    for size, timings in results.items():
        print(
            f"  {size:>12,} messages   p50 {statistics.median(timings) * 1e3:7.1f}"
            f"   p95 {quantile(timings, 95) * 1e3:7.1f}"
        )
    ratio = quantile(results[args.large], 95) / quantile(results[args.small], 95)
    print(
        f"  p95 ratio ({args.large:,} / {args.small:,}): {ratio:.2f} (goal: p95 <= 200 ms at 10^6)"
    )


if __name__ == "__main__":
    main()
