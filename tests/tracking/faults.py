"""PostgreSQL faults for one test process, the machine's own server left running."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, connections

from tests.harness.common import free_port


def backend_pid() -> int:
    """The PostgreSQL backend serving this thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate_other_connections(spared: int) -> int:
    """Drop every connection to the test database but this thread's and `spared`'s; how
    many were dropped."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
            "FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
            [spared],
        )
        return cursor.fetchone()[0]


def drop_this_connection() -> None:
    """PostgreSQL ends this process's persistent connection, as a restart of it would."""
    pid = backend_pid()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


@contextmanager
def postgresql_unreachable() -> Iterator[None]:
    """This thread's connection dropped and every new one of this process refused (a port
    nothing listens on; the live server's threads share the settings), as when PostgreSQL
    is down. The machine's own server is left alone."""
    drop_this_connection()
    kept = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.settings_dict["PORT"] = kept
        connection.close()
