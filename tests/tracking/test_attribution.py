"""Who sent it, by what the mail server vouches for: never by the envelope sender alone."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from abuse.models import Block
from ingest.recording import message_record
from tests.factories import DomainFactory, MailboxFactory, SystemUserFactory, message_data
from tests.tracking.push import PICKUP_33
from tracking.mime import parse_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_hostings(db):
    a = DomainFactory(name="shop-a.example")
    b = DomainFactory(name="firm-b.example")
    MailboxFactory(domain=b, address="boss@firm-b.example")
    SystemUserFactory(hosting=a.hosting, uid=5001)
    return a, b


def test_a_script_of_hosting_a_sending_as_bs_address_counts_for_a_never_for_b(two_hostings):
    _a, b = two_hostings
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(30):  # L-SPAM11 is 30 spam of a domain in 24 h
            message_record(data=message_data(sender="boss@firm-b.example", uid=5001))

    blocks = {(blk.target, blk.code) for blk in Block.objects.active()}
    assert blocks == {("shop-a.example", "L-SPAM11")}
    assert not Block.objects.filter(hosting=b.hosting).exists()


def test_a_script_sending_as_its_own_domain_counts_for_that_domain(two_hostings):
    a, _b = two_hostings
    other = DomainFactory(hosting=a.hosting, name="shop-a-bis.example")

    message = message_record(data=message_data(sender=f"www@{other.name}", uid=5001)).message

    assert (message.hosting, message.domain, message.source) == (a.hosting, other, "website")


@pytest.mark.parametrize("uid", [None, 9999], ids=["no uid", "a uid no hosting has"])
@pytest.mark.usefixtures("two_hostings")
def test_unvouched_mail_is_kept_for_staff_and_counts_for_nobody(uid):
    message = message_record(
        data=message_data(sender="boss@firm-b.example", user="", uid=uid)
    ).message

    assert (message.hosting, message.domain, message.mailbox) == (None, None, None)
    assert not Block.objects.exists()


def test_an_authenticated_mailbox_is_its_own_sender_whatever_the_envelope_says(two_hostings):
    _a, b = two_hostings

    message = message_record(
        data=message_data(sender="ceo@bank.example", user="boss@firm-b.example")
    ).message

    assert message.mailbox.address == "boss@firm-b.example" and message.hosting == b.hosting


def test_the_uid_comes_from_postfixs_pickup_line_before_any_php_header():
    raw = (PICKUP_33 + "X-PHP-Originating-Script: 5001:x.php\r\nSubject: s\r\n\r\n").encode()

    assert parse_message(raw)[1].uid == 33


def test_a_pickup_line_below_the_top_one_is_the_senders_own_and_ignored():
    raw = (
        "Received: from client (client [203.0.113.9]) by mx (Postfix) with ESMTPSA id Q\r\n"
        + PICKUP_33
        + "Subject: s\r\n\r\n"
    ).encode()

    assert parse_message(raw)[1].uid is None


def test_php_writes_its_header_first_so_a_second_one_the_script_added_is_ignored():
    raw = (
        b"X-PHP-Originating-Script: 5001:contact.php\r\n"
        b"X-PHP-Originating-Script: 33:forged.php\r\nSubject: s\r\n\r\n"
    )

    assert parse_message(raw)[1].uid == 5001
