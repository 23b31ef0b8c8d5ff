# The raw messages, in the ingest events and the 72-hour content, are compressed with lz4
# instead of pglz: each message is compressed twice on its way in (the ack's insert, the
# worker's COPY), and lz4 took 0.09 ms of PostgreSQL's CPU a message where pglz took 0.14,
# in 25 % less space (bench corpus, 2,000 messages of 8.5 KiB on average). Values already
# stored keep pglz until rewritten; nothing is rewritten here. A PostgreSQL built without
# lz4 keeps pglz. SQLite (the demo) has no such setting.

from django.db import migrations

TABLES = ("tracking_ingestevent", "tracking_messagecontent")


def tables(cursor) -> list[str]:
    # The partitioned table's setting does not reach the partitions it has already (the
    # ones made later copy it: tracking/partitions.py, INCLUDING COMPRESSION).
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'tracking_messagecontent'::regclass ORDER BY 1"
    )
    return [*TABLES, *(row[0] for row in cursor.fetchall())]


def compression_set(schema_editor, method: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND %s = ANY(enumvals)",
            [method],
        )
        if cursor.fetchone() is None:
            return
        for table in tables(cursor):
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN raw SET COMPRESSION {method}')


def forwards(apps, schema_editor) -> None:
    compression_set(schema_editor, "lz4")


def backwards(apps, schema_editor) -> None:
    compression_set(schema_editor, "pglz")


class Migration(migrations.Migration):
    dependencies = [("tracking", "0005_partitioned")]

    operations = [migrations.RunPython(forwards, backwards)]
