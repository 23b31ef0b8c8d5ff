"""What the benchmarks share: a fresh database, Django, a bulk history, service processes."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.common import background  # noqa: E402  (importable once on the path)

process = background  # the benchmarks' services: web, worker, policyd


DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/lwsmail_bench"


def recreate_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str, **extra_env: str) -> dict[str, str]:
    """Point this process (and the ones it starts) at the bench database; returns the env."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret-0123456789abcdef0123456789")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lwsmail.settings")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.update(extra_env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return dict(os.environ)


def fill_history(
    *, mailbox_ids: list[int], domain_id: int, hosting_id: int, rows: int, start: int = 1
) -> float:
    """Insert `rows` messages over the last two years with one SQL statement: ham at any
    age, and 5 % spam older than every window (a past offender's record)."""
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from tracking.partitions import MESSAGES, partitions_cover

    started = time.perf_counter()
    now = datetime.now(UTC)
    partitions_cover(scheme=MESSAGES, moments=MESSAGES.starts(now - timedelta(days=731), now))
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
            FROM generate_series(%(start)s, %(start)s + %(rows)s - 1) AS g
            """,
            {
                "hosting": hosting_id,
                "domain": domain_id,
                "boxes": mailbox_ids,
                "n": len(mailbox_ids),
                "rows": rows,
                "start": start,
            },
        )
        # A live table has been vacuumed; without this, autovacuum of the fresh rows runs
        # during the measurement.
        cur.execute("VACUUM ANALYZE tracking_outboundmessage")
    return time.perf_counter() - started


def mailboxes_load(*, count: int, hostings: int, password_hash: str) -> None:
    """`count` mailboxes box<n>@d<n % 1000>.bench.example over 1,000 domains spread over
    `hostings` hostings of one customer, all with one hash."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO lwsmail_customeraccount (name, contact_email, language, created_at)"
            " VALUES ('bench', 'bench@example.net', 'en', now()) RETURNING id"
        )
        (customer,) = cur.fetchone()
        cur.execute(
            "INSERT INTO lwsmail_hosting (customer_id, name, created_at)"
            " SELECT %s, 'h' || g, now() FROM generate_series(0, %s - 1) g",
            [customer, hostings],
        )
        cur.execute(
            "INSERT INTO lwsmail_domain (hosting_id, name)"
            " SELECT h.id, 'd' || g || '.bench.example' FROM generate_series(0, 999) g"
            " JOIN lwsmail_hosting h ON h.name = 'h' || (g %% %s)",
            [hostings],
        )
        cur.execute(
            """INSERT INTO lwsmail_mailbox (domain_id, address, password_hash,
                 password_changed_at, created_at, suspended_reason, suspended_for_inactivity)
               SELECT d.id, 'box' || g || '@d' || (g %% 1000) || '.bench.example', %s, now(),
                      now(), '', false
                 FROM generate_series(0, %s - 1) g
                 JOIN lwsmail_domain d ON d.name = 'd' || (g %% 1000) || '.bench.example'""",
            [password_hash, count],
        )
        cur.execute("VACUUM ANALYZE lwsmail_mailbox")


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]
