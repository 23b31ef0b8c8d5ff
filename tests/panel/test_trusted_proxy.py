"""X-Forwarded-* are believed from the configured reverse proxies only."""

from __future__ import annotations

import pytest
from django.test import override_settings

from hosting.models import AuditEvent
from tests.panel.conftest import PASSWORD

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.2"


def login(client, *, peer: str, forwarded_for: str = "", proto: str = "", password: str = PASSWORD):
    headers = {}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    if proto:
        headers["X-Forwarded-Proto"] = proto
    return client.post(
        "/accounts/login/",
        {"username": "marie", "password": password},
        headers=headers,
        REMOTE_ADDR=peer,
    )


def failed_logins_lock(client, *, peer: str, forwarded_for: str) -> int:
    for _ in range(5):
        login(client, peer=peer, forwarded_for=forwarded_for, password="wrong")
    return login(client, peer=peer, forwarded_for=forwarded_for).status_code


@override_settings(TRUSTED_PROXIES=[f"{PROXY}/32"])
def test_behind_a_trusted_proxy_one_attacker_cannot_lock_a_customer_out(client, customer):
    # Five failures from the attacker's address, through the proxy, lock only that address.
    assert failed_logins_lock(client, peer=PROXY, forwarded_for="198.51.100.66") == 429

    response = login(client, peer=PROXY, forwarded_for="203.0.113.10, 198.51.100.1")

    assert response.status_code == 302


@override_settings(TRUSTED_PROXIES=[f"{PROXY}/32"])
def test_the_audit_records_the_client_behind_the_proxy(logged_in, customer):
    url = f"/h/{customer.hosting.pk}/addresses/{customer.box.pk}/password/"
    new = "Fresh-Long-Secret-9"

    logged_in.post(
        url,
        {"password1": new, "password2": new},
        headers={"X-Forwarded-For": "203.0.113.10"},
        REMOTE_ADDR=PROXY,
    )

    assert AuditEvent.objects.get(action="mailbox.password_changed").client_ip == "203.0.113.10"


def test_a_forged_forwarded_for_from_an_untrusted_client_changes_nothing(client, customer):
    # Without trusted proxies, rotating a forged header does not dodge the lock.
    for n in range(5):
        login(client, peer="198.51.100.66", forwarded_for=f"192.0.2.{n}", password="wrong")

    response = login(client, peer="198.51.100.66", forwarded_for="192.0.2.200")

    assert response.status_code == 429


@override_settings(TRUSTED_PROXIES=[f"{PROXY}/32"], SECURE_SSL_REDIRECT=True)
@pytest.mark.parametrize(("peer", "https"), [(PROXY, True), ("198.51.100.66", False)])
def test_https_is_believed_from_the_proxy_only(client, customer, peer, https):
    response = client.get(
        "/accounts/login/", headers={"X-Forwarded-Proto": "https"}, REMOTE_ADDR=peer
    )

    # Seen as HTTPS: the page; seen as plain HTTP: the redirect to HTTPS.
    assert response.status_code == (200 if https else 301)


@override_settings(TRUSTED_PROXIES=["not-a-network"])
def test_a_bad_trusted_proxies_setting_is_a_clear_error(client):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        client.get("/healthz")
