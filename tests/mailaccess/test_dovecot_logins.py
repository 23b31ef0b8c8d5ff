"""The password the panel keeps is the one the mail server checks: a real Dovecot (IMAP,
POP3, and SMTP AUTH for a real Postfix) against the test database, with the project's
deploy/dovecot configuration."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from email.message import EmailMessage

import pytest
from django.urls import reverse
from django.utils import timezone

from enforcement.counters import HOLDS_KEY
from hosting.models import Mailbox
from hosting.passwords import dovecot_hash
from hosting.services import mailbox_reactivate, mailbox_suspend
from limits.services import hold_record
from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory, UserFactory
from tests.panel.conftest import PASSWORD as PANEL_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

BOX = "contact@boulangerie.example"
SECRET = "Pain-au-levain-1907"
NEW_SECRET = "Croissant-beurre-2026"
HELD = "L-HOLD password change required, see the panel"
SUSPENDED = "L-SUSPENDED mailbox suspended by support, see the panel"


@pytest.fixture
def customer(transactional_db):
    user = UserFactory(username="marie")
    account = CustomerAccountFactory(users=[user])
    domain = DomainFactory(hosting__customer=account, name="boulangerie.example")
    user.box = MailboxFactory(domain=domain, address=BOX, password_hash=dovecot_hash(SECRET))
    return user


def refused(answers) -> bool:
    return not any(a.ok for a in answers.values())


def test_imap_pop3_and_smtp_auth_open_with_the_panels_password_only(mail_access, customer):
    right = mail_access.everywhere(BOX, SECRET)
    assert all(a.ok for a in right.values()), right
    # The address as a mail client may type it.
    assert mail_access.imap("Contact@Boulangerie.Example", SECRET).ok
    wrong = mail_access.everywhere(BOX, "Pain-au-levain-1908")
    assert refused(wrong), wrong
    assert "Authentication failed" in wrong["imap"].text
    assert wrong["smtp"].text.startswith("535 5.7.8")
    unknown = mail_access.everywhere("nobody@boulangerie.example", SECRET)
    assert refused(unknown), unknown


def test_a_password_changed_on_the_panels_page_replaces_the_old_one_within_5_seconds(
    mail_access, customer, client
):
    assert client.post("/accounts/login/", {"username": "marie", "password": PANEL_PASSWORD})
    page = reverse("mailbox-password", args=[customer.box.domain.hosting_id, customer.box.pk])
    response = client.post(page, {"password1": NEW_SECRET, "password2": NEW_SECRET})
    assert response.status_code == 302
    changed = time.monotonic()
    # Each protocol is asked at once; no cache keeps the old password for any of them.
    for protocol in ("imap", "pop3", "smtp"):
        login = getattr(mail_access, protocol)
        asked = time.monotonic()
        old, new = login(BOX, SECRET), login(BOX, NEW_SECRET)
        assert asked - changed < 5
        assert not old.ok and new.ok, (protocol, old, new)


def _send(mail_access, subject: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = BOX, "friend@example.org", subject
    mail.set_content("Le pain est prêt.")
    with mail_access.postfix.submission(BOX, NEW_SECRET) as smtp:
        # AUTH, MAIL, RCPT and DATA accepted (send_message raises on any refusal).
        assert smtp.send_message(mail) == {}


def test_a_held_mailbox_opens_nothing_until_its_password_changes_then_logs_in_and_sends(
    mail_access, customer, client, redis_client
):
    box = customer.box
    at = timezone.now() - timedelta(minutes=1)
    held = {"t": "hold-token-1", "at": at.timestamp(), "why": "networks", "n": 6, "limit": 5}
    # As the policy service holds it: in Redis at once, recorded by the worker after.
    redis_client.hset(HOLDS_KEY, box.address, json.dumps(held))
    assert hold_record(address=box.address, entry=held) is not None
    answers = mail_access.everywhere(BOX, SECRET)
    assert refused(answers), answers
    assert HELD in answers["imap"].text
    assert HELD in answers["pop3"].text
    assert HELD in answers["smtp"].text
    # The customer changes the password on the panel.
    assert client.post("/accounts/login/", {"username": "marie", "password": PANEL_PASSWORD})
    page = reverse("mailbox-password", args=[box.domain.hosting_id, box.pk])
    response = client.post(page, {"password1": NEW_SECRET, "password2": NEW_SECRET})
    assert response.status_code == 302
    answers = mail_access.everywhere(BOX, NEW_SECRET)
    assert all(a.ok for a in answers.values()), answers
    _send(mail_access, "Commande de vendredi")
    (delivered,) = mail_access.inbox.wait_for(1)
    assert delivered["Subject"] == "Commande de vendredi"


def test_a_suspended_mailbox_is_refused_with_the_reason_and_logs_in_once_reactivated(
    dovecot, customer
):
    staff = UserFactory(username="support", is_staff=True)
    box = customer.box
    assert mailbox_suspend(mailbox=box, reason="Unpaid invoice 2026-114", user=staff)
    answers = dovecot.everywhere(BOX, SECRET)
    assert refused(answers), answers
    assert SUSPENDED in answers["imap"].text and SUSPENDED in answers["pop3"].text
    assert "[ALERT]" in answers["imap"].text
    # The staff's own words are for the panel, not for whoever has the password.
    assert "Unpaid" not in answers["imap"].text
    assert mailbox_reactivate(mailbox=box, user=staff)
    answers = dovecot.everywhere(BOX, SECRET)
    assert all(a.ok for a in answers.values()), answers


def test_the_reason_is_told_only_to_a_client_that_typed_the_right_password(dovecot, customer):
    staff = UserFactory(username="support", is_staff=True)
    mailbox_suspend(mailbox=customer.box, reason="Abuse report", user=staff)
    answers = dovecot.everywhere(BOX, "a guess at the password")
    assert refused(answers), answers
    assert all("L-SUSPENDED" not in a.text for a in answers.values()), answers


def test_a_mailbox_without_a_password_opens_with_none(dovecot, customer):
    Mailbox.objects.filter(pk=customer.box.pk).update(password_hash="")
    answers = dovecot.everywhere(BOX, "")
    assert refused(answers), answers
    assert refused(dovecot.everywhere(BOX, SECRET))
