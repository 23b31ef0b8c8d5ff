"""Provisioning through the API: mailboxes created, listed, suspended, reactivated,
deleted and given a password by the provider's systems, within the token's reach."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from api.scopes import Scope
from hosting.models import AuditEvent, Mailbox
from hosting.passwords import dovecot_verify
from limits.models import Hold
from tests.abuse.helpers import spam_at, standing
from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db

SHA512 = (
    "{SHA512-CRYPT}$6$N52zW9HgPPiSWWsm$4Iyj32fUHVDMcTH0bU/iHod5qPK0OAKbA6QKkbevnOyrPFz6dla9"
    "MeEE9eWdo5pRKl2zMii2JVJdTZS3kQEbA0"
)


@pytest.fixture
def domain():
    return DomainFactory(name="boulangerie.example")


def delete(api, path: str):
    return api.client.delete(f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {api.key}")


def test_a_mailbox_is_created_with_a_password_listed_and_read_back(api, domain):
    response = api.post(
        "mailboxes/", {"address": "Contact@Boulangerie.example", "password": "Pain-de-mie-2026"}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["address"] == "contact@boulangerie.example"
    assert created["state"] == "active" and created["hosting"] == domain.hosting_id
    box = Mailbox.objects.get(address="contact@boulangerie.example")
    assert dovecot_verify("Pain-de-mie-2026", box.password_hash)
    listed = api.get("mailboxes/", {"domain": "boulangerie.example"}).json()["results"]
    assert [m["address"] for m in listed] == ["contact@boulangerie.example"]
    assert api.get(f"mailboxes/{box.pk}/").json()["id"] == box.pk
    event = AuditEvent.objects.get(action="mailbox.created")
    assert event.actor == api.token.owner and event.data == {"scheme": "BLF-CRYPT"}


def test_a_mailbox_is_created_with_the_hash_it_had_elsewhere(api, domain):
    body = {"address": "old@boulangerie.example", "password_hash": SHA512}
    assert api.post("mailboxes/", body).status_code == 201
    assert Mailbox.objects.get(address="old@boulangerie.example").password_hash == SHA512


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"address": "a@boulangerie.example"}, "either password or password_hash"),
        (
            {"address": "a@boulangerie.example", "password": "x" * 12, "password_hash": SHA512},
            "either password or password_hash",
        ),
        ({"address": "a@boulangerie.example", "password": "123456789012"}, "numeric"),
        ({"address": "a@boulangerie.example", "password": "short"}, "at least 10"),
        ({"address": "a@boulangerie.example", "password_hash": "{PLAIN}secret"}, "clear"),
        ({"address": "a@boulangerie.example", "password_hash": "$6$abc"}, "scheme"),
        ({"address": "a@elsewhere.example", "password": "Pain-de-mie-2026"}, "within reach"),
        ({"address": "not an address", "password": "Pain-de-mie-2026"}, "within reach"),
        ({"address": "exists@boulangerie.example", "password": "Pain-de-mie-2026"}, "exists"),
    ],
)
def test_a_mailbox_that_cannot_be_created_is_a_400_saying_why(api, domain, body, says):
    MailboxFactory(domain=domain, address="exists@boulangerie.example")
    response = api.post("mailboxes/", body)
    assert response.status_code == 400
    assert says in json.dumps(response.json())
    assert not Mailbox.objects.exclude(address="exists@boulangerie.example").exists()


def test_suspend_and_reactivate_show_in_the_state_and_the_audit_trail(api, domain):
    box = MailboxFactory(domain=domain)
    response = api.post(f"mailboxes/{box.pk}/suspend/", {"reason": "Unpaid invoice"})
    assert response.json()["state"] == "suspended"
    assert response.json()["suspended_reason"] == "Unpaid invoice"
    # Suspending again keeps the first reason.
    api.post(f"mailboxes/{box.pk}/suspend/", {"reason": "another"})
    assert api.get(f"mailboxes/{box.pk}/").json()["suspended_reason"] == "Unpaid invoice"
    assert api.post(f"mailboxes/{box.pk}/suspend/", {"reason": "  "}).status_code == 400
    assert api.post(f"mailboxes/{box.pk}/reactivate/").json()["state"] == "active"
    actions = AuditEvent.objects.filter(subject=box.address).values_list("action", flat=True)
    assert sorted(actions) == ["mailbox.reactivated", "mailbox.suspended"]


def test_setting_the_password_lifts_the_hold(api, domain):
    box = MailboxFactory(domain=domain, address="contact@boulangerie.example")
    Hold.objects.create(
        mailbox=box,
        hosting=domain.hosting,
        token="t1",
        reason=Hold.Reason.NETWORKS,
        started_at=timezone.now(),
        observed=6,
        threshold=5,
    )
    assert api.get(f"mailboxes/{box.pk}/").json()["state"] == "held"
    response = api.post(f"mailboxes/{box.pk}/password/", {"password": "Nouveau-secret-77"})
    assert response.status_code == 200 and response.json()["state"] == "active"
    refused = api.post(f"mailboxes/{box.pk}/password/", {"password": "contact-2026-xyz"})
    assert refused.status_code == 400 and "name of the address" in refused.json()["password"][0]


def test_deleting_a_mailbox_keeps_its_history_by_address(api, domain):
    box = MailboxFactory(domain=domain, address="contact@boulangerie.example")
    spam_at(box.address, timezone.now() - timedelta(hours=1), 40)
    block = standing(box.address)
    assert delete(api, f"mailboxes/{box.pk}/").status_code == 204
    assert not Mailbox.objects.filter(pk=box.pk).exists()
    kept = OutboundMessage.objects.filter(sender="contact@boulangerie.example")
    assert kept.count() == 40 and not kept.filter(mailbox__isnull=False).exists()
    # The block stays on the address: the policy service matches it by address.
    block.refresh_from_db()
    assert block.mailbox_id is None and block.target == box.address and block.code == "L-SPAM20"
    assert AuditEvent.objects.filter(action="mailbox.deleted", subject=box.address).exists()
    assert delete(api, f"mailboxes/{box.pk}/").status_code == 404


def test_a_token_never_reaches_another_customers_mailboxes(make_api, domain):
    other = DomainFactory(name="autre.example", hosting__customer=CustomerAccountFactory())
    theirs = MailboxFactory(domain=other)
    api = make_api(customers=[domain.hosting.customer])
    assert api.get(f"mailboxes/{theirs.pk}/").status_code == 404
    assert api.post(f"mailboxes/{theirs.pk}/suspend/", {"reason": "x"}).status_code == 404
    assert delete(api, f"mailboxes/{theirs.pk}/").status_code == 404
    assert api.get("mailboxes/").json()["results"] == []
    body = {"address": "new@autre.example", "password": "Pain-de-mie-2026"}
    assert api.post("mailboxes/", body).status_code == 400
    theirs.refresh_from_db()
    assert not theirs.is_suspended()


def test_reading_needs_mailboxes_read_and_writing_mailboxes_write(make_api, domain):
    box = MailboxFactory(domain=domain)
    reader = make_api(scopes=[Scope.MAILBOXES_READ])
    assert reader.get("mailboxes/").status_code == 200
    assert reader.post(f"mailboxes/{box.pk}/suspend/", {"reason": "x"}).status_code == 403
    assert delete(reader, f"mailboxes/{box.pk}/").status_code == 403
    writer = make_api(scopes=[Scope.MAILBOXES_WRITE])
    assert writer.get("mailboxes/").status_code == 403
    assert writer.post(f"mailboxes/{box.pk}/reactivate/").status_code == 200


def test_no_hostile_body_or_query_makes_the_mailbox_endpoints_fail(api, domain):
    box = MailboxFactory(domain=domain, address="contact@boulangerie.example")
    rng = random.Random(25)
    alphabet = "abc@.-_0123456789éß\x00'\"{}[]<>%&=?/ {}$"
    for _ in range(60):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        fields = {
            k: junk if rng.random() < 0.7 else rng.choice([5, None, [], {}, True, "x" * 400])
            for k in rng.sample(["address", "password", "password_hash", "reason"], 2)
        }
        for path in (
            "mailboxes/",
            f"mailboxes/{box.pk}/suspend/",
            f"mailboxes/{box.pk}/password/",
            f"mailboxes/{box.pk}/reactivate/",
        ):
            body = json.dumps(fields).encode() if rng.random() < 0.8 else junk.encode()
            response = api.client.post(
                f"/api/v1/{path}",
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {api.key}",
            )
            assert response.status_code < 500, (path, body)
        params = {"hosting": junk, "domain": junk, "address": junk, "cursor": junk}
        assert api.get("mailboxes/", params).status_code < 500
    # Nothing half-stored: every mailbox there has a hash Dovecot can use.
    for mailbox in Mailbox.objects.all():
        assert mailbox.password_hash.startswith("{"), mailbox.address
