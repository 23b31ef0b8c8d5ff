from __future__ import annotations

import imaplib
import poplib
import smtplib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from mailaccess.policy import PREFIX, defence_forget
from mailaccess.services import dovecot_role_configure
from tests.harness.common import background, free_port, listening, wait_for
from tests.harness.dovecot import Dovecot
from tests.harness.postfix import Postfix
from tests.harness.smtp_sink import Inbox, SmtpSink
from tests.workers import worker_env

ROLE_PASSWORD = "dovecot-role-password-for-tests"


@dataclass(frozen=True)
class Answer:
    ok: bool
    text: str


class MailAccess:
    """The mail platform a customer's mail client talks to: Dovecot's IMAP and POP3, and
    Postfix's submission port with Dovecot's SMTP AUTH."""

    def __init__(self, dovecot: Dovecot, postfix: Postfix | None, inbox: Inbox | None) -> None:
        self.dovecot, self.postfix, self.inbox = dovecot, postfix, inbox

    def imap(self, user: str, password: str) -> Answer:
        with imaplib.IMAP4("127.0.0.1", self.dovecot.imap_port, timeout=30) as client:
            try:
                _status, lines = client.login(user, password)
            except imaplib.IMAP4.error as exc:
                return Answer(False, exc.args[0].decode() if exc.args else "")
            client.logout()
            return Answer(True, lines[0].decode())

    def pop3(self, user: str, password: str) -> Answer:
        client = poplib.POP3("127.0.0.1", self.dovecot.pop3_port, timeout=30)
        try:
            client.user(user)
            return Answer(True, client.pass_(password).decode())
        except poplib.error_proto as exc:
            return Answer(False, exc.args[0].decode())
        finally:
            client.close()

    def smtp(self, user: str, password: str) -> Answer:
        assert self.postfix is not None
        try:
            smtp = self.postfix.submission(user, password)
        except smtplib.SMTPAuthenticationError as exc:
            return Answer(False, f"{exc.smtp_code} {exc.smtp_error.decode()}")
        smtp.quit()
        return Answer(True, "235")

    def everywhere(self, user: str, password: str) -> dict[str, Answer]:
        answers = {"imap": self.imap(user, password), "pop3": self.pop3(user, password)}
        if self.postfix is not None:
            answers["smtp"] = self.smtp(user, password)
        return answers


@pytest.fixture
def clean_auth_keys(redis_client):
    """No auth policy key (queue, failures, refusals, defence) before and after the test."""

    def wipe() -> None:
        keys = list(redis_client.scan_iter(f"{PREFIX}*"))
        if keys:
            redis_client.delete(*keys)
        defence_forget()

    wipe()
    yield redis_client
    wipe()


@contextmanager
def authpolicyd(token: str, log: Path, **env: str) -> Iterator[str]:
    """`manage.py authpolicyd` on a free port, against this test's Redis: its URL."""
    port = free_port()
    args = [sys.executable, "manage.py", "authpolicyd", "--listen", f"127.0.0.1:{port}"]
    with background(args, env={**worker_env(), "AUTHPOLICY_TOKEN": token, **env}, log=log):
        wait_for(lambda: listening(port), timeout=30, what="authpolicyd")
        yield f"http://127.0.0.1:{port}/api/authpolicy/"


def dovecot_for_this_database() -> Dovecot:
    dovecot_role_configure(password=ROLE_PASSWORD)
    database = dict(connection.settings_dict, DOVECOT_PASSWORD=ROLE_PASSWORD)
    return Dovecot(database=database)


@pytest.fixture
def dovecot(transactional_db) -> Iterator[MailAccess]:
    """Dovecot alone, against this test's database."""
    server = dovecot_for_this_database()
    with server.running():
        yield MailAccess(server, None, None)
    server.cleanup()


@pytest.fixture
def mail_access(transactional_db, ingest_settings, rspamd, redis_client, tmp_path):
    """Dovecot, and Postfix asking it for SMTP AUTH, scanning with Rspamd, asking the
    policy service, relaying to a sink."""
    server = dovecot_for_this_database()
    policy_port = free_port()
    policyd = [sys.executable, "manage.py", "policyd", "--listen", f"127.0.0.1:{policy_port}"]
    sink = SmtpSink()
    postfix = Postfix(
        milter_port=rspamd.proxy_port,
        policy_port=policy_port,
        relay_port=sink.port,
        sasl_port=server.auth_port,
    )
    with (
        server.running(),
        sink as inbox,
        background(policyd, env=worker_env(), log=tmp_path / "policyd.log"),
    ):
        wait_for(lambda: listening(policy_port), timeout=30, what="policyd")
        postfix.start()
        try:
            yield MailAccess(server, postfix, inbox)
        finally:
            postfix.cleanup()
            server.cleanup()


from tests.panel.conftest import customer, logged_in  # noqa: E402, F401 (marie and her pages)
