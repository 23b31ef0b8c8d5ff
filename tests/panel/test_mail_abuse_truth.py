"""The Mail Abuse page never says less than the truth: every standing block is there, the
one the mail server enforces, and sending is never said to work while a block stands."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from abuse.models import Block
from tests.abuse.helpers import spam_at, website_spam_at

pytestmark = pytest.mark.django_db


def page(client, customer) -> str:
    return client.get(reverse("mail-abuse", args=[customer.hosting.pk])).content.decode()


def test_with_nothing_blocked_it_says_sending_works(logged_in, customer):
    html = page(logged_in, customer)

    assert "Outgoing mail works normally." in html
    assert 'id="timed-blocks"' not in html


def test_a_timed_block_is_listed_with_its_end_and_the_password_change_first(logged_in, customer):
    spam_at(customer.box.address, timezone.now())  # L-SPAM00 for 20 minutes
    block = Block.objects.get(target=customer.box.address)

    html = page(logged_in, customer)

    assert "No address of this hosting is blocked for mail abuse." in html
    assert "works normally" not in html
    timed = html[html.index('id="timed-blocks"') :]
    assert "L-SPAM00" in timed and customer.box.address in timed
    password = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])
    assert f'href="{password}"' in timed
    from django.utils.formats import date_format

    assert date_format(timezone.localtime(block.ends_at), "SHORT_DATETIME_FORMAT") in timed


def test_the_stronger_domain_block_is_shown_for_the_address_and_covers_every_address(
    logged_in, customer
):
    spam_at(customer.box.address, timezone.now())  # the address's own L-SPAM00
    website_spam_at(customer.box.domain.name, timezone.now(), 30)  # its domain's L-SPAM11

    html = page(logged_in, customer)

    assert "L-SPAM11" in html and "every address of this domain" in html
    assert "L-SPAM00" not in html  # the server answers with L-SPAM11 for it
    assert "works normally" not in html


def test_logging_out_returns_to_the_panels_login(logged_in):
    response = logged_in.post(reverse("logout"))

    assert (response.status_code, response["Location"]) == (302, reverse("login"))
