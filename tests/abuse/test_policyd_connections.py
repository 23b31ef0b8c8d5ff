"""The policy service holds its ground: idle floods, strangers, and being stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings

from tests.abuse.test_policyd import Running, ask
from tests.harness.common import ROOT, free_port, wait_for

REQUEST = {"sender": "someone@example.org", "sasl_username": ""}


@pytest.fixture
def running(clean_state, request):
    server = Running(**getattr(request, "param", {}))
    yield server
    server.stop()


def idle_connections(port: int, n: int) -> list[socket.socket]:
    sockets = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket, timeout: float = 5.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("running", [{"max_connections": 100}], indirect=True)
def test_hundreds_of_idle_connections_never_lock_out_a_fresh_client(running):
    flood = idle_connections(running.port, 400)
    try:
        assert ask(running.port, [REQUEST]) == ["DUNNO"]
        # The oldest idle ones made room; the server never holds more than its limit.
        assert closed_by_server(flood[0])
        assert not closed_by_server(flood[-1], timeout=0.2)
    finally:
        for sock in flood:
            sock.close()


def test_with_the_default_limit_500_idle_connections_leave_room(running):
    flood = idle_connections(running.port, 500)
    try:
        assert ask(running.port, [REQUEST] * 3) == ["DUNNO"] * 3
    finally:
        for sock in flood:
            sock.close()


@pytest.mark.parametrize("running", [{"idle_timeout": 0.6}], indirect=True)
def test_an_idle_connection_is_closed_after_the_idle_timeout(running):
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    slow = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    slow.sendall(b"request=smtpd_access_policy\n")  # half a request, never finished
    try:
        started = time.monotonic()
        assert closed_by_server(sock) and closed_by_server(slow)
        assert 0.5 < time.monotonic() - started < 4
    finally:
        sock.close()
        slow.close()


@pytest.mark.parametrize("running", [{"allowed_networks": ["10.0.0.0/8"]}], indirect=True)
def test_a_client_outside_the_allowed_networks_is_closed_unanswered(running, caplog):
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    try:
        sock.sendall(b"request=smtpd_access_policy\nsender=a@b.example\n\n")
        assert closed_by_server(sock)
    finally:
        sock.close()
    assert "not in POLICYD_ALLOWED_NETWORKS" in caplog.text


def test_loopback_and_private_networks_are_allowed_by_default():
    from enforcement.policyd import networks

    allowed = networks(settings.POLICYD_ALLOWED_NETWORKS)
    import ipaddress

    for address in ("127.0.0.1", "::1", "10.1.2.3", "172.20.0.5", "192.168.1.1"):
        assert any(ipaddress.ip_address(address) in net for net in allowed)
    assert not any(ipaddress.ip_address("203.0.113.7") in net for net in allowed)


def test_sigterm_answers_what_was_asked_then_exits_cleanly(clean_state, tmp_path):
    port = free_port()
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "DATABASE_URL": "postgres://x/none"}
    log = open(tmp_path / "policyd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "policyd", "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: ask(port, [REQUEST]) == ["DUNNO"], timeout=30, what="policyd")
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        busy = socket.create_connection(("127.0.0.1", port), timeout=5)
        busy.sendall(b"request=smtpd_access_policy\nsender=a@b.example\n\n")
        proc.send_signal(signal.SIGTERM)

        assert busy.makefile("rb").readline() == b"action=DUNNO\n"
        assert proc.wait(timeout=15) == 0
        assert closed_by_server(idle)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        log.close()
    output = (tmp_path / "policyd.log").read_text()
    assert "policyd stopping" in output and "policyd stopped" in output


def test_a_bad_allowlist_is_a_clear_error_at_start(settings):
    from django.core.management import CommandError, call_command

    settings.POLICYD_ALLOWED_NETWORKS = ["10.0.0.0/8", "not-a-network"]

    with pytest.raises(CommandError, match="POLICYD_ALLOWED_NETWORKS"):
        call_command("policyd", "--listen", f"127.0.0.1:{free_port()}")


def test_a_connection_accepted_while_stopping_is_answered_then_closed(clean_state):
    # The client's handshake completes in the kernel before the stop; the server accepts it
    # only after: what it asks is still answered, and nothing more is taken from it.
    async def scenario() -> tuple[bytes, bytes]:
        from enforcement.policyd import PolicyServer

        policy = PolicyServer()
        port = free_port()
        await policy.serve("127.0.0.1", port)
        stopping = asyncio.ensure_future(policy.shutdown(grace=0.5))
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"request=smtpd_access_policy\nsender=a@b.example\n\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await asyncio.wait_for(stopping, 15)
        return answer, rest

    # A loop of its own, in its own thread: another test may leave this thread's loop running.
    with ThreadPoolExecutor(1) as pool:
        answer, rest = pool.submit(asyncio.run, scenario()).result(timeout=30)
    assert answer == b"action=DUNNO\n\n"
    assert rest == b""
