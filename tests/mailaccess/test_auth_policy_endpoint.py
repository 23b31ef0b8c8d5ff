"""/api/authpolicy/ as Dovecot calls it, and as anyone else may: a token, a command, JSON;
hostile bodies never make it fail, and one unreadable report never blocks the others."""

from __future__ import annotations

import json
import random

import pytest

from hosting.redis import client as redis_client
from mailaccess.models import AccessAttempt
from mailaccess.policy import QUEUE_KEY
from mailaccess.services import attempts_record
from tests.factories import DomainFactory, MailboxFactory

pytestmark = pytest.mark.django_db

TOKEN = "authpolicy-token-for-tests"
URL = "/api/authpolicy/"


@pytest.fixture
def policy(settings, clean_auth_keys):
    settings.AUTHPOLICY_TOKEN = TOKEN
    return clean_auth_keys


def call(client, command: str, body, token: str = TOKEN):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(
        f"{URL}?command={command}",
        data,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_it_answers_dovecot_with_a_status(client, policy):
    response = call(client, "allow", {"login": "a@b.example", "remote": "192.0.2.1"})
    assert response.status_code == 200 and response.json() == {"status": 0, "msg": ""}


@pytest.mark.parametrize(
    ("command", "body", "token", "status"),
    [
        ("allow", {}, "wrong", 401),
        ("allow", {}, "", 401),
        ("delete", {}, TOKEN, 400),
        ("allow", b"{not json", TOKEN, 400),
        ("allow", b"[1, 2]", TOKEN, 400),
        ("report", b"x" * 20_000, TOKEN, 413),
    ],
)
def test_a_caller_that_is_not_dovecot_or_a_bad_body_is_a_4xx(
    client, policy, command, body, token, status
):
    assert call(client, command, body, token).status_code == status
    assert policy.llen(QUEUE_KEY) == 0


def test_it_is_off_without_a_token(client, policy, settings):
    settings.AUTHPOLICY_TOKEN = ""
    assert call(client, "allow", {}, "").status_code == 404


def test_no_hostile_report_fails_and_each_readable_one_is_stored(client, policy):
    MailboxFactory(address="box@example.fr", domain=DomainFactory(name="example.fr"))
    rng = random.Random(26)
    alphabet = "abc@.:-/0123456789éß\x00'\"{}[]<>% "
    sent = 0
    for _ in range(80):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        body = {
            k: rng.choice([junk, 5, None, [], {}, True, "x" * 400, "box@example.fr", "::1"])
            for k in rng.sample(
                ["login", "remote", "protocol", "success", "policy_reject", "reason"], 4
            )
        }
        for command in ("allow", "report"):
            response = call(client, command, body)
            assert response.status_code < 500, body
        sent += 1
    # An item no report could make (a broken write): parked, the others stored.
    redis_client().lpush(QUEUE_KEY, b"\xff not json")
    while attempts_record(redis=redis_client()):
        pass
    assert AccessAttempt.objects.count() == sent
    assert policy.llen(QUEUE_KEY) == 0


def test_a_report_recorded_twice_is_stored_once(client, policy):
    call(client, "report", {"login": "a@b.example", "remote": "192.0.2.1", "success": False})
    item = policy.lindex(QUEUE_KEY, 0)
    policy.rpush(QUEUE_KEY, item)  # a worker that died after storing, before trimming
    while attempts_record(redis=redis_client()):
        pass
    assert AccessAttempt.objects.count() == 1


def test_metrics_count_the_refusals(client, policy, settings):
    from hosting.counters import KEY

    policy.hdel(KEY, "login_refused")
    for _ in range(30):
        call(client, "report", {"login": "a@b.example", "remote": "203.0.113.5"})
    assert call(client, "allow", {"remote": "203.0.113.5"}).json()["status"] == -1
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    text = client.get("/metrics").content.decode()
    assert "lwsmail_login_refused_total 1.0" in text


def test_staff_edit_the_defence_and_it_applies_at_once(admin_client, policy, client):
    from mailaccess.models import LoginDefence

    LoginDefence.objects.get_or_create(pk=1)
    form = {
        "delay_after": 2,
        "delay_window_minutes": 10,
        "delay_seconds": 7,
        "refuse_after": 30,
        "refuse_window_minutes": 60,
        "refuse_minutes": 60,
        "alert_after": 50,
        "exempt_networks": '["192.0.2.0/24"]',
    }
    response = admin_client.post("/admin/mailaccess/logindefence/1/change/", form)
    assert response.status_code == 302
    for _ in range(2):
        call(client, "report", {"login": "a@b.example", "remote": "203.0.113.5"})
    assert call(client, "allow", {"remote": "203.0.113.5"}).json()["status"] == 7
    bad = admin_client.post(
        "/admin/mailaccess/logindefence/1/change/", {**form, "exempt_networks": '["nonsense"]'}
    )
    assert bad.status_code == 200 and b"exempt networks" in bad.content
