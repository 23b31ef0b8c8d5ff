"""A database migrated on an older main migrates forward on this one with nothing lost: the
core app's models moved out of the project package (hosting/, label kept), so its tables,
rows, content types and migration records must carry on as they are. Runs the older main's
own code (from git) to migrate and load the demo, then this code's migrate, and compares
every table."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import uuid
from io import BytesIO

import psycopg
import pytest
from django.conf import settings

from tests.harness.common import ROOT

pytestmark = pytest.mark.slow

# main as it landed before the apps stood on floors (lwsmail/ held the core's models).
BEFORE = "80dd9cf"
# Tables this turn's own migrations change (new columns; a column dropped): their rows are
# compared by count, every other table row by row.
CHANGED = {
    "limits_holdsettings",
    "limits_mailboxbaseline",
    "webhooks_attempt",
    "lwsmail_mailbox",  # suspended_at, suspended_reason, suspended_by
}


# Tables that gain rows for the new apps and models (their migrations, content types and
# permissions): none of the older rows may go.
GROWING = {"django_migrations", "django_content_type", "auth_permission"}


def database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def admin_connection() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname="postgres",
        autocommit=True,
    )


def snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Each table: its row count and a digest of its rows in a stable order."""
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        found = {}
        for table in tables:
            rows = "string_agg(t::text, chr(10) ORDER BY t::text)"
            query = f"SELECT count(*), md5(coalesce({rows}, '')) FROM \"{table}\" t"
            count, digest = conn.execute(query).fetchone()
            found[table] = (count, digest)
        return found


def run(cwd, env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def test_a_database_of_the_older_main_migrates_forward_with_nothing_lost(tmp_path):
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BEFORE], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tmp_path / "before", filter="data")
    name = f"lws_forward_{uuid.uuid4().hex[:8]}"
    url = database_url(name)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": "migrate-forward",
        "POLICY_BLOCKSTATE_ENABLED": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": "",
    }
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        run(tmp_path / "before", env, "migrate", "--noinput")
        run(tmp_path / "before", env, "demo_load", "--force")
        before = snapshot(url)
        assert before["lwsmail_mailbox"][0] > 0  # the demo is loaded

        run(ROOT, env, "migrate", "--noinput")
        after = snapshot(url)
        assert "No planned migration operations" in run(ROOT, env, "migrate", "--plan")

        lost = {t for t in before if t not in after}
        assert lost == set()
        for table, (count, digest) in before.items():
            if table in GROWING:
                assert after[table][0] >= count, table
            elif table in CHANGED:
                assert after[table][0] == count, table
            else:
                assert after[table] == (count, digest), table
        with psycopg.connect(url) as conn:
            labels = {r[0] for r in conn.execute("SELECT app_label FROM django_content_type")}
        assert "lwsmail" in labels and "hosting" not in labels
    finally:
        with admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
