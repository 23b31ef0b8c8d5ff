"""Writes for the mail server's access to the panel."""

from __future__ import annotations

from django.db import connection, transaction
from psycopg import sql

from mailaccess.passdb import ROLE, VIEW


class RoleRefused(RuntimeError):
    """The database would not let the role be set up, and why."""


def dovecot_role_configure(*, password: str) -> None:
    """Let Dovecot's role log in with `password` and read the passdb view, nothing else."""
    if len(password) < 16:
        raise RoleRefused("DOVECOT_DB_PASSWORD must be at least 16 characters long")
    role, view = sql.Identifier(ROLE), sql.Identifier(VIEW)
    statements = [
        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            role, sql.Literal(password)
        ),
        # Whatever an earlier hand gave it goes: it reads the view, it writes nothing.
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(role),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(role),
        sql.SQL("GRANT SELECT ON {} TO {}").format(view, role),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE])
        if cursor.fetchone() is None:
            raise RoleRefused(
                f"the role {ROLE} does not exist: the migrations create it when they may "
                f"(CREATE ROLE {ROLE} NOLOGIN as a superuser, then run this again)"
            )
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))
