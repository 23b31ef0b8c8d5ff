from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.abuse.helpers import spam_at
from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory, UserFactory

PASSWORD = "pw-for-tests"


@pytest.fixture
def customer(db):
    user = UserFactory(username="marie")
    account = CustomerAccountFactory(users=[user])
    domain = DomainFactory(hosting__customer=account, name="boulangerie.example")
    user.hosting = domain.hosting
    user.box = MailboxFactory(domain=domain, address="contact@boulangerie.example")
    user.other_box = MailboxFactory(domain=domain, address="marie@boulangerie.example")
    return user


@pytest.fixture
def logged_in(client, customer):
    response = client.post("/accounts/login/", {"username": "marie", "password": PASSWORD})
    assert response.status_code == 302
    client.user = customer
    return client


@pytest.fixture
def abuse_blocked(customer):
    """contact@ blocked L-SPAM20 two days ago (complaint period over)."""
    spam_at(customer.box.address, timezone.now() - timedelta(days=2), 40)
    return customer
