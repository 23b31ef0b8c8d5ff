"""Another customer's ids are 404s; state changes need POST with a CSRF token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from abuse.models import Unblock
from tests.abuse.helpers import spam_at
from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory, UserFactory
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def stranger():
    """Another customer's hosting, blocked, with a message."""
    account = CustomerAccountFactory(users=[UserFactory(username="stranger")])
    box = MailboxFactory(domain=DomainFactory(hosting__customer=account))
    spam_at(box.address, timezone.now() - timedelta(days=2), 40)
    box.message = OutboundMessage.objects.filter(mailbox=box).first()
    return box


def urls_of(box) -> list[tuple[str, str]]:
    h, m, msg = box.domain.hosting_id, box.pk, box.message.pk
    return [
        ("get", reverse("addresses", args=[h])),
        ("get", reverse("mailbox-password", args=[h, m])),
        ("post", reverse("mailbox-password", args=[h, m])),
        ("get", reverse("mail-abuse", args=[h])),
        ("post", reverse("unblock", args=[h])),
        ("get", reverse("tracking", args=[h])),
        ("get", reverse("message", args=[h, msg])),
        ("get", reverse("message-html", args=[h, msg])),
        ("get", reverse("history", args=[h])),
    ]


def test_every_url_with_another_customers_id_answers_404(logged_in, stranger):
    for method, url in urls_of(stranger):
        response = getattr(logged_in, method)(url, {"confirm": "on"} if method == "post" else {})
        assert response.status_code == 404, (method, url)
    assert not Unblock.objects.exists()


def test_a_message_id_of_another_hosting_under_ones_own_hosting_is_404(
    logged_in, customer, stranger
):
    url = reverse("message", args=[customer.hosting.pk, stranger.message.pk])

    assert logged_in.get(url).status_code == 404


def test_pages_need_a_login(client, stranger):
    for method, url in urls_of(stranger):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_state_changes_need_post(logged_in, abuse_blocked):
    response = logged_in.get(reverse("unblock", args=[abuse_blocked.hosting.pk]))

    assert response.status_code == 405
    assert not Unblock.objects.exists()


def test_state_changes_need_a_csrf_token(customer, abuse_blocked):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)
    h = customer.hosting.pk

    unblock = client.post(reverse("unblock", args=[h]), {"confirm": "on"})
    password = client.post(
        reverse("mailbox-password", args=[h, customer.box.pk]),
        {"password1": "Fresh-Long-Secret-1", "password2": "Fresh-Long-Secret-1"},
    )
    logout = client.post("/accounts/logout/")

    assert (unblock.status_code, password.status_code, logout.status_code) == (403, 403, 403)
    assert not Unblock.objects.exists()
