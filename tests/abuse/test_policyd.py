"""The SMTP policy service over real sockets, with the block state in a real Redis."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from abuse.services import hosting_unblock
from enforcement.policyd import PolicyServer, reply
from hosting.redis import client as blockstate_client
from tests.abuse.helpers import spam_at, website_spam_at
from tests.factories import MailboxFactory, UserFactory
from tests.harness.common import free_port

pytestmark = pytest.mark.django_db


class Running:
    """A PolicyServer on its own event loop in a thread, shut down cleanly by stop()."""

    def __init__(self, **kwargs) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                PolicyServer(**kwargs).serve("127.0.0.1", self.port)
            )
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def policyd(clean_state):
    running = Running()
    yield running.port
    running.stop()


def ask(port: int, requests: list[dict[str, str]]) -> list[str]:
    """Send requests on one connection as Postfix does; return the actions."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rwb")
        answers = []
        for attrs in requests:
            payload = {"request": "smtpd_access_policy", "protocol_state": "RCPT", **attrs}
            stream.write("".join(f"{k}={v}\n" for k, v in payload.items()).encode() + b"\n")
            stream.flush()
            lines = []
            while (line := stream.readline().decode().rstrip("\n")) != "":
                lines.append(line)
            answers.append(lines[0].removeprefix("action="))
        return answers


def test_a_sender_blocked_for_mail_abuse_is_refused_with_its_code(
    policyd, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)

    [action] = ask(policyd, [{"sasl_username": mailbox.address, "sender": mailbox.address}])

    assert action == (
        f"REJECT 5.7.1 L-SPAM20 <{mailbox.address}>: sending suspended for mail abuse, "
        "see the Mail Abuse page"
    )


def test_a_timed_block_says_until_when(policyd, mailbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now())

    [action] = ask(policyd, [{"sender": mailbox.address.upper()}])

    assert action.startswith(f"REJECT 5.7.1 L-SPAM00 <{mailbox.address}>: sending suspended until ")
    assert action.endswith("UTC, change the password of this address")


def test_a_domain_block_stops_every_address_of_the_domain(
    policyd, mailbox, django_capture_on_commit_callbacks
):
    other = MailboxFactory(domain=mailbox.domain)
    with django_capture_on_commit_callbacks(execute=True):
        website_spam_at(mailbox.domain.name, timezone.now(), 30)

    [action] = ask(policyd, [{"sasl_username": other.address}])

    assert "L-SPAM11" in action


def test_unknown_or_empty_senders_pass(policyd):
    answers = ask(policyd, [{"sender": "someone@elsewhere.example"}, {"sender": ""}, {}])

    assert answers == ["DUNNO", "DUNNO", "DUNNO"]


def test_after_an_unblock_the_sender_passes_again(
    policyd, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
    assert ask(policyd, [{"sender": mailbox.address}])[0].startswith("REJECT")

    with django_capture_on_commit_callbacks(execute=True):
        hosting_unblock(hosting=mailbox.domain.hosting, user=UserFactory())

    assert ask(policyd, [{"sender": mailbox.address}]) == ["DUNNO"]


def test_an_ended_timed_block_passes_even_before_the_sweep():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    entry = {"code": "L-SPAM00", "ends_at": (now + timedelta(seconds=1)).isoformat()}

    assert reply(entry, "a@b.fr", now).startswith("REJECT 5.7.1 L-SPAM00")
    assert reply(entry, "a@b.fr", now + timedelta(seconds=1)) is None


def test_the_lift_of_a_replaced_block_never_erases_the_stronger_one(
    policyd, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now(), 20)  # 00, then 10 replaces it

    [action] = ask(policyd, [{"sender": mailbox.address}])

    assert "L-SPAM10" in action


def test_many_connections_with_many_requests_each_get_right_answers(
    policyd, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
    requests = [{"sender": mailbox.address}, {"sender": "free@elsewhere.example"}] * 25

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: ask(policyd, requests), range(50)))

    for answers in results:
        assert answers[0::2] == [answers[0]] * 25 and answers[0].startswith("REJECT")
        assert answers[1::2] == ["DUNNO"] * 25


@pytest.mark.parametrize(("fail_open", "expected"), [(True, "DUNNO"), (False, "DEFER_IF_PERMIT")])
def test_with_redis_unreachable_it_follows_the_fail_open_setting(fail_open, expected, caplog):
    running = Running(redis_url=f"redis://127.0.0.1:{free_port()}/0", fail_open=fail_open)
    try:
        [action] = ask(running.port, [{"sender": "a@b.fr"}])
    finally:
        running.stop()

    assert action.startswith(expected)
    assert "block state unreachable" in caplog.text


def test_the_rebuild_restores_the_state_from_postgresql(policyd, mailbox, redis_client):
    spam_at(
        mailbox.address, timezone.now() - timedelta(days=2), 40
    )  # no on_commit: Redis missed it
    assert ask(policyd, [{"sender": mailbox.address}]) == ["DUNNO"]

    call_command("blockstate_rebuild")

    assert "L-SPAM20" in ask(policyd, [{"sender": mailbox.address}])[0]


@pytest.mark.parametrize("listen", ["nowhere", "127.0.0.1:0", "127.0.0.1:99999", "host:25"])
def test_a_bad_listen_address_is_a_clear_error(listen):
    with pytest.raises(CommandError, match="--listen"):
        call_command("policyd", listen=listen)


def test_an_oversized_request_closes_only_its_own_connection(policyd):
    with socket.create_connection(("127.0.0.1", policyd), timeout=5) as sock:
        sock.sendall(b"sender=" + b"x" * 70_000 + b"\n\n")
        assert sock.recv(100) == b""  # closed without an answer

    assert ask(policyd, [{"sender": "someone@elsewhere.example"}]) == ["DUNNO"]


def test_requests_pipelined_on_one_connection_are_answered_in_order(
    policyd, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
    requests = b"".join(
        f"request=smtpd_access_policy\nsender={sender}\n\n".encode()
        for sender in [mailbox.address, "free@elsewhere.example"] * 3
    )
    with socket.create_connection(("127.0.0.1", policyd), timeout=5) as sock:
        sock.sendall(requests)
        stream = sock.makefile("rb")
        answers = [stream.readline().decode() for _ in range(12)][0::2]

    assert [a.startswith("action=REJECT 5.7.1 L-SPAM20") for a in answers] == [True, False] * 3


def test_it_lets_mail_through_while_redis_restarts_then_refuses_again_after_the_rebuild(
    clean_state, settings, mailbox, caplog, django_capture_on_commit_callbacks
):
    from tests.harness.redis_service import private_redis

    with private_redis() as own:
        settings.REDIS_URL = own.url
        blockstate_client.cache_clear()
        running = Running(redis_url=own.url)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
            own.stop()
            # The same long-lived connection, as Postfix keeps it: fail-open, then recovery.
            with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
                stream = sock.makefile("rwb")

                def answer() -> str:
                    request = f"request=smtpd_access_policy\nsender={mailbox.address}\n\n"
                    stream.write(request.encode())
                    stream.flush()
                    action, blank = stream.readline(), stream.readline()
                    assert blank == b"\n"
                    return action.decode().strip()

                assert answer() == "action=DUNNO"
                own.start()  # empty: this Redis keeps nothing on disk
                call_command("blockstate_rebuild")
                assert answer().startswith("action=REJECT 5.7.1 L-SPAM20")
        finally:
            running.stop()
            blockstate_client.cache_clear()
    assert "block state unreachable" in caplog.text


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_a_request_whose_lines_end_in_crlf_is_answered_at_once(
    policyd, mailbox, django_capture_on_commit_callbacks, ending
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
    request = ending.join([b"request=smtpd_access_policy", f"sender={mailbox.address}".encode()])
    with socket.create_connection(("127.0.0.1", policyd), timeout=5) as sock:
        sock.sendall(request + ending + ending)
        stream = sock.makefile("rb")
        answer = stream.readline()
        blank = stream.readline()

    assert answer.startswith(b"action=REJECT 5.7.1 L-SPAM20")
    assert answer.endswith(ending) and blank == ending


def test_a_request_mixing_line_endings_is_answered_and_the_next_one_too(policyd):
    with socket.create_connection(("127.0.0.1", policyd), timeout=5) as sock:
        sock.sendall(b"request=smtpd_access_policy\r\nsender=a@elsewhere.example\n\r\n")
        sock.sendall(b"request=smtpd_access_policy\nsender=b@elsewhere.example\n\n")
        stream = sock.makefile("rb")
        answers = [stream.readline().strip() for _ in range(4)][0::2]

    assert answers == [b"action=DUNNO", b"action=DUNNO"]
