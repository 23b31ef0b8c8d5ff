"""Trigram indexes for the tracking page's "subject or recipient contains" filter.

Django's icontains compiles to UPPER(column) LIKE UPPER(pattern), so the indexes are on
UPPER(column). PostgreSQL only (pg_trgm is a trusted extension from PostgreSQL 13); the
SQLite demo database goes without.
"""

from __future__ import annotations

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS msg_subject_trgm ON tracking_outboundmessage "
    "USING gin (UPPER(subject) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS msg_recipients_trgm ON tracking_outboundmessage "
    "USING gin (UPPER(recipients_text) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS msg_subject_trgm", "DROP INDEX IF EXISTS msg_recipients_trgm"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("tracking", "0002_ingest_event")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
