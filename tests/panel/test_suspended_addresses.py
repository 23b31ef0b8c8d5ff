"""A mailbox support suspended: every page that shows the address says so, with the code
the mail server answers (L-SUSPENDED) and the reason support gave."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hosting.services import mailbox_reactivate, mailbox_suspend
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REASON = "Facture impayée n° 114"


@pytest.fixture
def suspended(customer):
    staff = UserFactory(username="support", is_staff=True)
    mailbox_suspend(mailbox=customer.box, reason=REASON, user=staff)
    return customer


def test_the_addresses_page_shows_the_code_and_the_reason(suspended, logged_in):
    page = logged_in.get(reverse("addresses", args=[suspended.hosting.pk])).content.decode()
    assert "L-SUSPENDED" in page and f"Reason: {REASON}" in page


def test_the_mail_abuse_page_lists_the_suspended_address_and_is_not_green(suspended, logged_in):
    page = logged_in.get(reverse("mail-abuse", args=[suspended.hosting.pk])).content.decode()
    assert 'id="suspended"' in page and REASON in page and suspended.box.address in page
    assert "notice-ok" not in page


def test_the_action_history_records_the_suspension_and_the_reactivation(suspended, logged_in):
    mailbox_reactivate(mailbox=suspended.box, user=None)
    page = logged_in.get(reverse("history", args=[suspended.hosting.pk])).content.decode()
    assert f"Address suspended by support (L-SUSPENDED): {REASON}" in page
    assert "Address reactivated" in page


def test_the_customer_reads_it_in_french(suspended, logged_in):
    logged_in.cookies["django_language"] = "fr"
    page = logged_in.get(
        reverse("addresses", args=[suspended.hosting.pk]), HTTP_ACCEPT_LANGUAGE="fr"
    ).content.decode()
    assert f"Motif : {REASON}" in page
