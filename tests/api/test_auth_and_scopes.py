"""Who may call the API, and how far a token reaches."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from abuse.models import Block, Unblock
from api.models import ApiToken
from api.scopes import Scope
from api.services import api_token_revoke
from hosting.models import AuditEvent
from tests.abuse.helpers import spam_at, standing
from tests.factories import MailboxFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "hostings/", Scope.HOSTINGS_READ),
    ("get", "hostings/{hosting}/", Scope.HOSTINGS_READ),
    ("get", "blocks/", Scope.BLOCKS_READ),
    ("post", "blocks/{block}/lift/", Scope.BLOCKS_LIFT),
    ("post", "hostings/{hosting}/exceptional-unblock/", Scope.GRANTS_WRITE),
    ("post", "hostings/{hosting}/unblock/", Scope.UNBLOCK_WRITE),
    ("get", "messages/", Scope.MESSAGES_READ),
]


@pytest.fixture
def blocked(mailbox):
    spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
    return standing(mailbox.address)


def call(api, method: str, path: str, block: Block):
    path = path.format(hosting=block.hosting_id, block=block.pk)
    if method == "get":
        return api.get(path, {"hosting": block.hosting_id})
    return api.post(path, {"note": "asked by billing"})


def test_no_token_a_wrong_one_or_a_malformed_header_is_a_401(client, api):
    assert client.get("/api/v1/hostings/").status_code == 401
    assert client.get("/api/v1/hostings/")["WWW-Authenticate"] == "Bearer"
    for header in ["Bearer lws_nope", "Bearer", "Bearer a b", "Bearer é", "Basic abc"]:
        response = client.get("/api/v1/hostings/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header


def test_a_revoked_token_stops_at_once(api):
    assert api.get("hostings/").status_code == 200
    api_token_revoke(token=api.token, user=api.token.owner)
    assert api.get("hostings/").status_code == 401


@pytest.mark.parametrize("second, works", [(-1, True), (1, False)])
def test_a_token_works_until_it_expires_to_the_second(api, second, works):
    ends = timezone.now().replace(microsecond=0) + timedelta(days=1)
    ApiToken.objects.filter(pk=api.token.pk).update(expires_at=ends)
    with time_machine.travel(ends + timedelta(seconds=second), tick=False):
        assert (api.get("hostings/").status_code == 200) is works


@pytest.mark.parametrize("method, path, scope", ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_every_endpoint_refuses_a_token_without_its_scope(make_api, blocked, method, path, scope):
    others = make_api(scopes=[s for s in Scope.values if s != scope])
    response = call(others, method, path, blocked)
    assert response.status_code == 403
    assert scope in response.json()["detail"]
    assert standing(blocked.target) == blocked  # nothing was written
    only = make_api(scopes=[scope])
    assert call(only, method, path, blocked).status_code in (200, 409)


def test_a_token_of_one_customer_never_reaches_another_s_hostings(make_api):
    mine, theirs = MailboxFactory(), MailboxFactory()
    for box in (mine, theirs):
        spam_at(box.address, timezone.now() - timedelta(days=2), 40)
    api = make_api(customers=[mine.domain.hosting.customer])
    their_block, their_hosting = standing(theirs.address), theirs.domain.hosting_id
    listed = [h["id"] for h in api.get("hostings/").json()["results"]]
    assert listed == [mine.domain.hosting_id]
    assert api.get(f"hostings/{their_hosting}/").status_code == 404
    assert api.post(f"blocks/{their_block.pk}/lift/", {"note": "x"}).status_code == 404
    assert api.post(f"hostings/{their_hosting}/unblock/").status_code == 404
    assert api.post(f"hostings/{their_hosting}/exceptional-unblock/").status_code == 404
    blocks = api.get("blocks/", {"hosting": their_hosting}).json()["results"]
    assert blocks == []
    assert api.get("messages/", {"hosting": their_hosting}).json()["results"] == []
    assert standing(theirs.address) == their_block


def test_every_write_is_audited_as_the_token_s_owner_with_its_name(api, blocked):
    response = api.post(f"blocks/{blocked.pk}/lift/", {"note": "paid the invoice"})
    assert response.status_code == 200 and response.json()["lifted"] is True
    lift = AuditEvent.objects.get(action="block.lifted")
    assert lift.actor == api.token.owner
    assert lift.data["note"] == "paid the invoice (API token billing)"
    again = api.post(f"blocks/{blocked.pk}/lift/", {"note": "twice"})
    assert again.status_code == 409
    writes = AuditEvent.objects.filter(action="api.write").order_by("id")
    assert [(w.actor, w.data["token"], w.data["status"]) for w in writes] == [
        (api.token.owner, "billing", 200),
        (api.token.owner, "billing", 409),
    ]


def test_no_hostile_query_or_body_makes_any_endpoint_fail(api, blocked):
    rng = random.Random(14)
    alphabet = "0123456789-:TZé\x00'\"{}[]<>%&=?/ "
    bodies = [b"", b"{", b"[]", b"null", b'{"note": 5}', b'{"note": "' + b"x" * 600 + b'"}']
    for _ in range(40):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        params = {
            k: junk
            for k in (
                "hosting",
                "address",
                "after",
                "before",
                "queue_id",
                "code",
                "active",
                "cursor",
                "limit",
            )
        }
        for path in ("hostings/", "blocks/", "messages/", f"hostings/{blocked.hosting_id}/"):
            assert api.get(path, params).status_code < 500, (path, params)
        body = rng.choice(bodies) if rng.random() < 0.5 else junk.encode()
        for path in (f"blocks/{blocked.pk}/lift/", f"hostings/{blocked.hosting_id}/unblock/"):
            response = api.client.post(
                f"/api/v1/{path}",
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {api.key}",
            )
            assert response.status_code < 500, (path, body)
    # Nothing half-done: the block ended only with an unblock recorded for it.
    blocked.refresh_from_db()
    assert blocked.lift_reason in ("", "unblock")
    assert (blocked.lift_reason == "unblock") == Unblock.objects.filter(blocks=blocked).exists()


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("hostings/", {"limit": "-5"}, "limit"),
        ("hostings/", {"limit": "0"}, "limit"),
        ("hostings/", {"limit": "501"}, "limit"),
        ("hostings/", {"limit": "ten"}, "limit"),
        ("hostings/", {"limit": "５"}, "limit"),
        ("blocks/", {"active": "maybe"}, "active"),
        ("blocks/", {"hosting": "x"}, "hosting"),
        ("blocks/", {"code": "<script>"}, "code"),
        ("blocks/", {"cursor": "forged"}, "cursor"),
        ("hostings/", {"cursor": "%%%not base64"}, "cursor"),
    ],
)
def test_a_bad_query_value_is_a_400_naming_it_never_quietly_replaced(api, path, params, says):
    response = api.get(path, params)

    assert response.status_code == 400, response.content
    assert says in response.json()


def test_a_good_limit_and_filters_are_served(api, blocked):
    page = api.get("blocks/", {"limit": "1", "active": "true", "code": blocked.code}).json()

    assert [b["id"] for b in page["results"]] == [blocked.pk]
    ended = api.get("blocks/", {"active": "false"}).json()["results"]
    assert blocked.pk not in [b["id"] for b in ended]
    assert api.get("hostings/", {"limit": "500"}).status_code == 200
