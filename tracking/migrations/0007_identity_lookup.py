# Which of a batch's identities are stored already: a question for every partition of the
# message table (no bound on the send time can prune it), whose planning cost 0.85 to
# 0.97 ms each time with the 28 partitions of two years (EXPLAIN (ANALYZE, SUMMARY), warm)
# against 0.4 to 0.5 ms to run it for 50 identities. A PL/pgSQL function keeps the plan for
# its session, generic from the first call, and works behind a connection pooler, where
# named prepared statements do not (Django leaves them off). Adding or dropping a
# partition invalidates the plan. SQLite (the demo) asks the ORM.

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION lws_stored_identities(wanted text[]) RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY SELECT m.identity::text FROM tracking_outboundmessage m
        WHERE m.identity = ANY (wanted);
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS lws_stored_identities(text[])"


def forwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0006_raw_lz4")]

    operations = [migrations.RunPython(forwards, backwards)]
