"""`manage.py authpolicyd`, Dovecot's auth policy as a daemon: it answers what the web's
/api/authpolicy/ answers, keeps connections alive, and hostile bytes never make it fail or
stop answering the others."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator

import httpx
import pytest
from django.core.management import CommandError, call_command

from hosting.counters import KEY as METRICS_KEY
from hosting.redis import client as redis_client
from mailaccess.models import AccessAttempt
from mailaccess.policy import QUEUE_KEY
from mailaccess.services import attempts_record
from mailaccess.views import auth_policy_answer
from tests.factories import DomainFactory, MailboxFactory
from tests.harness.common import free_port, wait_for
from tests.mailaccess.conftest import authpolicyd

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "authpolicyd-token-for-tests"
PATH = "/api/authpolicy/"


@pytest.fixture
def daemon(settings, clean_auth_keys, tmp_path) -> Iterator[httpx.Client]:
    settings.AUTHPOLICY_TOKEN = TOKEN
    with (
        authpolicyd(TOKEN, tmp_path / "authpolicyd.log") as url,
        httpx.Client(base_url=url.removesuffix(PATH), timeout=10) as http,
    ):
        http.port = int(url.split(":")[2].split("/")[0])
        yield http


def call(http: httpx.Client, command: str, body, token: str | None = TOKEN) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http.post(f"{PATH}?command={command}", content=data, headers=headers)


def raw(port: int, data: bytes) -> bytes:
    """What the daemon answers to `data` sent as is, until it closes or falls silent."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def test_it_refuses_to_start_without_a_token_or_with_a_bad_address(settings):
    settings.AUTHPOLICY_TOKEN = ""
    with pytest.raises(CommandError, match="AUTHPOLICY_TOKEN is not set"):
        call_command("authpolicyd", "--listen", "127.0.0.1:10041")
    settings.AUTHPOLICY_TOKEN = TOKEN
    with pytest.raises(CommandError, match="--listen must be IP:PORT"):
        call_command("authpolicyd", "--listen", "localhost")


@pytest.mark.parametrize(
    ("command", "body", "token"),
    [
        ("allow", {"login": "a@b.example", "remote": "192.0.2.1"}, TOKEN),
        ("report", {"login": "a@b.example", "remote": "192.0.2.1", "success": True}, TOKEN),
        ("allow", {}, "wrong"),
        ("allow", {}, None),
        ("delete", {}, TOKEN),
        ("allow", b"{not json", TOKEN),
        ("allow", b"[1, 2]", TOKEN),
        ("report", b"x" * 20_000, TOKEN),
    ],
)
def test_it_answers_each_call_as_the_webs_endpoint_does(daemon, command, body, token):
    response = call(daemon, command, body, token)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    expected = auth_policy_answer(
        command=command,
        authorization=f"Bearer {token}" if token is not None else "",
        body=data if len(data) < 16384 else None,
    )
    assert (response.status_code, response.json()) == expected


def test_logins_on_one_kept_connection_reach_the_access_log_and_the_defence(daemon):
    MailboxFactory(address="box@example.fr", domain=DomainFactory(name="example.fr"))
    statuses = []
    for _ in range(31):
        statuses.append(call(daemon, "allow", {"remote": "203.0.113.5"}).json()["status"])
        body = {"login": "box@example.fr", "remote": "203.0.113.5", "protocol": "imap"}
        assert call(daemon, "report", body | {"success": False}).status_code == 200
    # The 11th attempt after 10 failures in 10 minutes waits, the 31st is refused.
    assert statuses == [0] * 10 + [5] * 20 + [-1]
    assert call(daemon, "allow", {"remote": "198.51.100.1"}).json()["status"] == 0
    while attempts_record(redis=redis_client()):
        pass
    assert AccessAttempt.objects.filter(login="box@example.fr").count() == 31
    wait_for(
        lambda: int(redis_client().hget(METRICS_KEY, "login_refused") or 0) >= 1,
        timeout=15,
        what="the refusals in the metrics",
    )


def test_it_answers_every_request_of_a_kept_connection(daemon):
    body = b'{"remote": "192.0.2.1"}'
    request = (
        f"POST {PATH}?command=allow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    answer = raw(daemon.port, request * 3)
    assert answer.count(b"HTTP/1.1 200 ") == 3


def test_hostile_bytes_get_a_4xx_or_nothing_and_the_daemon_answers_on(daemon):
    rng = random.Random(41)
    good = (
        f"POST {PATH}?command=report HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Length: {n}\r\n\r\n{body}"
    )
    head = b"POST /api/authpolicy/?command=allow HTTP/1.1\r\nHost: x\r\n"
    corpus: list[bytes] = [
        b"",
        b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"POST /api/authpolicy/ HTTP/9.9\r\n\r\n",
        head + b"Content-Length: -1\r\n\r\n",
        head + b"Content-Length: 99999999999\r\n\r\n",
        head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        head + b"X: " + b"a" * 20_000 + b"\r\n\r\n",
        b"\xff\xfe\x00" * 100,
    ]
    for _ in range(60):
        junk = "".join(rng.choice("ab@.:{}\"'\x00é\r\n ") for _ in range(rng.randrange(0, 60)))
        body = json.dumps({"login": junk, "remote": junk[:10], "success": rng.random() < 0.5})
        request = good.format(n=len(body.encode()), body=body).encode()
        cut = rng.randrange(len(request))
        corpus.append(rng.choice([request, request[:cut], request[:cut] + junk.encode()]))
    for data in corpus:
        answer = raw(daemon.port, data)
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert status < 500, (data, answer)
    # Still answering, and every report it took reached the queue whole.
    assert call(daemon, "allow", {"remote": "192.0.2.9"}).status_code == 200
    items = redis_client().lrange(QUEUE_KEY, 0, -1)
    assert all(json.loads(item)["uid"] for item in items)
    while attempts_record(redis=redis_client()):
        pass
    assert AccessAttempt.objects.count() == len(items)


def test_without_redis_it_answers_503_and_dovecot_lets_the_login_through(
    settings, clean_auth_keys, tmp_path
):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with (
        authpolicyd(TOKEN, tmp_path / "authpolicyd.log", REDIS_URL=nowhere) as url,
        httpx.Client(base_url=url.removesuffix(PATH), timeout=10) as http,
    ):
        response = call(http, "report", {"login": "a@b.example", "success": True})
        assert response.status_code == 503
        assert response.json() == {"detail": "Redis unreachable."}
