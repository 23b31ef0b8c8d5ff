"""The auth policy through lwsmail.wsgi.application, as gunicorn hands it over: answered
by the fast path ahead of Django's handler exactly as the view answers, and anything the
fast path must not answer goes on to Django."""

from __future__ import annotations

import json

import pytest

from mailaccess.models import AccessAttempt
from mailaccess.policy import QUEUE_KEY
from mailaccess.services import attempts_record
from tests.tracking.wsgi_client import WSGIClient, connections_kept_open

pytestmark = pytest.mark.django_db

TOKEN = "authpolicy-token-for-tests"
URL = "/api/authpolicy/"


@pytest.fixture
def wsgi(settings, clean_auth_keys):
    settings.AUTHPOLICY_TOKEN = TOKEN
    with connections_kept_open():
        yield WSGIClient()


def call(wsgi, command: str, body: dict | bytes, token: str = TOKEN):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return wsgi.generic(
        "POST",
        f"{URL}?command={command}",
        data,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_the_fast_path_answers_allow_and_records_a_report(wsgi, clean_auth_keys):
    allowed = call(wsgi, "allow", {"remote": "192.0.2.1", "login": "a@b.example"})
    assert allowed.status_code == 200 and json.loads(allowed.content) == {"status": 0, "msg": ""}
    assert allowed.headers["Content-Type"] == "application/json"
    call(wsgi, "report", {"remote": "192.0.2.1", "login": "a@b.example", "success": False})
    assert clean_auth_keys.llen(QUEUE_KEY) == 1
    attempts_record(redis=clean_auth_keys)
    assert AccessAttempt.objects.get().result == "unknown_mailbox"


@pytest.mark.parametrize(
    ("command", "body", "token", "status"),
    [
        ("allow", {}, "wrong", 401),
        ("nope", {}, TOKEN, 400),
        ("allow", b"{", TOKEN, 400),
        ("allow", b"[]", TOKEN, 400),
        ("report", b"x" * 20_000, TOKEN, 413),
    ],
)
def test_the_fast_path_refuses_as_the_view_does(wsgi, command, body, token, status):
    assert call(wsgi, command, body, token).status_code == status


def test_the_30th_failure_refuses_through_the_fast_path(wsgi):
    for _ in range(30):
        call(wsgi, "report", {"remote": "203.0.113.5", "login": "a@b.example"})
    answer = json.loads(call(wsgi, "allow", {"remote": "203.0.113.5"}).content)
    assert answer["status"] == -1 and answer["msg"].startswith("L-AUTH")


def test_a_get_and_a_plain_http_call_from_outside_go_to_django(wsgi, settings):
    assert wsgi.get(URL).status_code == 405  # Django's require_POST
    settings.SECURE_SSL_REDIRECT = True
    settings.INTERNAL_HOSTS = []
    # Django's own handler answers it (its middleware's headers show), not the fast path.
    assert "Content-Security-Policy" in call(wsgi, "allow", {}).headers
    settings.SECURE_SSL_REDIRECT = False
    assert "Content-Security-Policy" not in call(wsgi, "allow", {}).headers
