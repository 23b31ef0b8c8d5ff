"""The view Dovecot's passdb reads, and the read-only role that may read it and nothing else
(docs/deploying.md, "Dovecot"). The role is the cluster's: it may exist already."""

from __future__ import annotations

from django.db import migrations

ROLE = "lwsmail_dovecot"
VIEW = "mailaccess_passdb"
# One row per mailbox with a password: what Dovecot's passdb needs and nothing more. A
# held or suspended mailbox is `refused`, with the reason Dovecot gives to a client that
# typed the right password; the staff's own words stay on the panel.
VIEW_SQL = f"""
CREATE VIEW {VIEW} AS
SELECT m.address AS "user",
       m.password_hash AS password,
       CASE WHEN m.suspended_at IS NOT NULL OR h.id IS NOT NULL THEN 'y' END AS refused,
       CASE
           WHEN m.suspended_at IS NOT NULL
               THEN 'L-SUSPENDED mailbox suspended by support, see the panel'
           WHEN h.id IS NOT NULL
               THEN 'L-HOLD password change required, see the panel'
       END AS reason
  FROM lwsmail_mailbox m
  LEFT JOIN limits_hold h ON h.mailbox_id = m.id AND h.lifted_at IS NULL
 WHERE m.password_hash <> ''
"""

CREATE_ROLE = f"""
DO $$
BEGIN
    BEGIN
        CREATE ROLE {ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database of this cluster created it (or is creating it now)
    END;
    GRANT SELECT ON {VIEW} TO {ROLE};
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'lwsmail: no right to create the role {ROLE}; create it as a '
        'superuser, then run manage.py dovecot_role';
END
$$;
"""


def forwards(apps, schema_editor) -> None:
    # PostgreSQL only: the demo's SQLite has no Dovecot to serve and no roles.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(VIEW_SQL)
        schema_editor.execute(CREATE_ROLE)


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP VIEW {VIEW}")


class Migration(migrations.Migration):
    dependencies = [
        ("lwsmail", "0003_mailbox_suspension"),
        ("limits", "0005_hold_history_days"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
