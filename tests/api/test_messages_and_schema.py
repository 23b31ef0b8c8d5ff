"""Message search by hosting, address, time range and queue id, paged by cursor; the
OpenAPI document; tokens made in the admin."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import yaml
from django.core.management import call_command

from api.models import ApiToken
from tests.factories import MailboxFactory, UserFactory, message_data
from tracking.services import messages_store

pytestmark = pytest.mark.django_db
T = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)


def store(sender: str, at: datetime, queue_id: str, subject: str = "Fattura di dicembre è pronta"):
    data = replace(message_data(sender=sender, sent_at=at, queue_id=queue_id), subject=subject)
    messages_store(datas=[data], now=at)


def test_a_search_names_a_hosting_or_an_address_and_a_sound_range(api):
    assert api.get("messages/").status_code == 400
    assert "hosting or an address" in str(api.get("messages/").json())
    bad = api.get(
        "messages/", {"address": "x@y.example", "after": "2027-01-01", "before": "2026-01-01"}
    )
    assert bad.status_code == 400
    assert api.get("messages/", {"hosting": "abc"}).status_code == 400
    assert api.get("messages/", {"address": "not-an-address"}).status_code == 400


def test_the_time_range_counts_from_after_inclusive_to_before_exclusive(api, mailbox):
    store(mailbox.address, T - timedelta(seconds=1), "Q1")
    store(mailbox.address, T, "Q2")
    store(mailbox.address, T + timedelta(seconds=1), "Q3")  # next year
    found = api.get(
        "messages/",
        {
            "address": mailbox.address.upper(),
            "after": T.isoformat(),
            "before": (T + timedelta(seconds=1)).isoformat(),
        },
    ).json()["results"]
    assert [m["queue_id"] for m in found] == ["Q2"]
    assert found[0]["subject"] == "Fattura di dicembre è pronta"
    assert found[0]["mailbox"] == mailbox.address
    by_queue = api.get("messages/", {"hosting": mailbox.domain.hosting_id, "queue_id": "Q3"})
    assert [m["queue_id"] for m in by_queue.json()["results"]] == ["Q3"]


def test_pages_follow_the_cursor_newest_first_without_repeats_or_gaps(api, mailbox):
    other = MailboxFactory(domain=mailbox.domain)
    for i in range(23):
        store((mailbox if i % 2 else other).address, T - timedelta(minutes=i // 3), f"P{i:02d}")
    seen, params = [], {"hosting": mailbox.domain.hosting_id, "limit": 5}
    page = api.get("messages/", params).json()
    while True:
        seen += [(m["sent_at"], m["queue_id"]) for m in page["results"]]
        if not page["next"]:
            break
        page = api.client.get(page["next"], HTTP_AUTHORIZATION=f"Bearer {api.key}").json()
    assert len(seen) == len({q for _, q in seen}) == 23
    assert [s for s, _ in seen] == sorted((s for s, _ in seen), reverse=True)


def test_the_openapi_document_is_valid_and_names_every_endpoint(client):
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert {
        "/api/v1/hostings/",
        "/api/v1/hostings/{id}/",
        "/api/v1/hostings/{id}/unblock/",
        "/api/v1/hostings/{id}/exceptional-unblock/",
        "/api/v1/blocks/",
        "/api/v1/blocks/{id}/lift/",
        "/api/v1/messages/",
    } <= set(schema["paths"])
    served = client.get("/api/v1/schema/")
    assert served.status_code == 200 and b"lwsmail API" in served.content


def test_staff_make_a_token_in_the_admin_and_see_its_key_once(client):
    staff = UserFactory(username="support", is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(
        "/admin/api/apitoken/add/",
        {"name": "client area", "owner": staff.pk, "scopes": ["hostings:read"]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    key = text.split("only its hash is kept): ", 1)[1].split("<", 1)[0].strip()
    token = ApiToken.objects.get()
    assert key.startswith("lws_") and key not in (token.key_hash, token.key_prefix)
    client.logout()
    assert client.get("/api/v1/hostings/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert client.get("/api/v1/blocks/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 403
