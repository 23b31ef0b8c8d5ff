"""Mailboxes moved with the hashes they had keep their passwords in the real Dovecot; the
role Dovecot logs in with reads the passdb view and nothing else."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from hosting.passwords import dovecot_hash
from mailaccess.passdb import ROLE, VIEW
from tests.factories import DomainFactory, MailboxFactory
from tests.harness.common import require_binary
from tests.mailaccess.conftest import ROLE_PASSWORD, dovecot_for_this_database

pytestmark = pytest.mark.django_db(transaction=True)

OLD_PASSWORD = "Mot-de-passe-ancien-42"


def doveadm_hash(scheme: str, password: str) -> str:
    """The hash as the old platform's Dovecot wrote it."""
    result = subprocess.run(
        [require_binary("doveadm", "dovecot-core"), "pw", "-s", scheme, "-p", password],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "ARGON2ID", "SSHA512"])
def test_an_imported_hash_logs_in_with_its_original_password(dovecot, tmp_path, scheme):
    DomainFactory(name="ancien.example")
    dump = tmp_path / "mailboxes.txt"
    dump.write_text(f"old@ancien.example {doveadm_hash(scheme, OLD_PASSWORD)}\n")
    call_command("mailboxes_import", str(dump))
    assert dovecot.imap("old@ancien.example", OLD_PASSWORD).ok
    assert dovecot.pop3("old@ancien.example", OLD_PASSWORD).ok
    assert not dovecot.imap("old@ancien.example", OLD_PASSWORD + "!").ok


@pytest.fixture
def as_dovecot(transactional_db):
    dovecot_for_this_database()  # the role as the tests' Dovecot has it
    MailboxFactory(
        address="box@example.fr",
        domain=DomainFactory(name="example.fr"),
        password_hash=dovecot_hash("Correct-Horse-9-Battery"),
    )
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=ROLE,
        password=ROLE_PASSWORD,
        autocommit=True,
    ) as conn:
        yield conn


def test_dovecots_role_reads_the_passdb_view(as_dovecot):
    rows = as_dovecot.execute(f'SELECT "user", refused, reason FROM {VIEW}').fetchall()
    assert rows == [("box@example.fr", None, None)]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT password_hash FROM lwsmail_mailbox",
        "SELECT * FROM auth_user",
        "SELECT * FROM limits_hold",
        "SELECT * FROM api_apitoken",
        f"UPDATE {VIEW} SET password = 'x'",
        f"DELETE FROM {VIEW}",
        f"INSERT INTO {VIEW} (\"user\", password) VALUES ('a@b.c', 'x')",
        "UPDATE lwsmail_mailbox SET password_hash = ''",
        "CREATE TABLE stolen (x text)",
        "CREATE VIEW peek AS SELECT 1",
    ],
)
def test_dovecots_role_can_read_nothing_else_and_write_nothing(as_dovecot, statement):
    # Refused for want of the right, or because the view cannot be written at all.
    with pytest.raises(
        (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState)
    ):
        as_dovecot.execute(statement)


def test_dovecots_role_holds_the_right_to_read_the_view_only(as_dovecot):
    rights = as_dovecot.execute(
        """SELECT table_name, privilege_type FROM information_schema.table_privileges
           WHERE grantee = %s ORDER BY 1, 2""",
        [ROLE],
    ).fetchall()
    assert rights == [(VIEW, "SELECT")]


def test_dovecots_role_cannot_take_more_rights(as_dovecot):
    for statement in (f"GRANT SELECT ON lwsmail_mailbox TO {ROLE}", f"ALTER ROLE {ROLE} SUPERUSER"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_dovecot.execute(statement)
