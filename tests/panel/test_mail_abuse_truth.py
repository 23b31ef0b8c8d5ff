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
    assert 'class="notice notice-ok" id="abuse-status"' in html
    assert 'id="timed-blocks"' not in html


def test_a_timed_block_is_listed_with_its_end_and_the_password_change_first(logged_in, customer):
    spam_at(customer.box.address, timezone.now())  # L-SPAM00 for 20 minutes
    block = Block.objects.get(target=customer.box.address)

    html = page(logged_in, customer)

    # The first line the customer reads is not green while an address cannot send.
    status = html[
        html.index('id="abuse-status"') - 40 : html.index("</p>", html.index('id="abuse-status"'))
    ]
    assert "notice-ok" not in status and "notice-warn" in status
    assert "Some addresses of this hosting cannot send right now" in status
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


def test_the_unblock_history_says_when_the_last_was_and_when_the_next_is_possible(
    logged_in, abuse_blocked, settings
):
    from datetime import timedelta

    from django.utils.formats import date_format

    from abuse.models import Unblock

    settings.SUPPORT_URL = "https://support.example.net/ticket"
    assert "No unblock yet on this hosting." in page(logged_in, abuse_blocked)
    logged_in.post(reverse("unblock", args=[abuse_blocked.hosting.pk]), {"confirm": "on"})
    spam_at(abuse_blocked.box.address, timezone.now() - timedelta(hours=25), 40)

    html = page(logged_in, abuse_blocked)

    unblock = Unblock.objects.get()
    last = date_format(timezone.localtime(unblock.created_at), "SHORT_DATETIME_FORMAT")
    following = timezone.localtime(unblock.created_at + timedelta(days=90))
    history = html[html.index('id="unblock-history"') :]
    assert f"Last unblock on {last}." in history
    assert (
        f"The next one is possible from {date_format(following, 'SHORT_DATETIME_FORMAT')}."
        in history
    )
    assert 'href="https://support.example.net/ticket"' in html  # beside the refusal
    assert "Gmail, Yahoo and Outlook" in html and "webmaster" in html
    assert html.rindex("Check email history") > html.index('id="unblock-history"')


def test_support_granting_an_exceptional_unblock_is_said_on_the_page(logged_in, abuse_blocked):
    from hosting.services import hosting_grant_exceptional_unblock
    from tests.factories import UserFactory

    staff = UserFactory(username="support", is_staff=True)
    hosting_grant_exceptional_unblock(hosting=abuse_blocked.hosting, user=staff)

    assert 'id="exceptional-grant"' in page(logged_in, abuse_blocked)


def test_a_meter_near_its_threshold_says_so(logged_in, customer):
    from datetime import timedelta

    spam_at(customer.box.address, timezone.now() - timedelta(days=2), 32)  # 32 of 40: 80 %

    html = page(logged_in, customer)

    assert "32 of 40 spam in 7 days" in html and "close to the threshold" in html
    assert html.count(f"<h3>{customer.box.address}</h3>") == 1  # each target once
    assert 'low="20.0" high="32.0"' in html


@pytest.mark.parametrize("language", ["en", "fr", "it"])
def test_dates_read_the_same_way_everywhere_and_never_end_a_sentence_twice(
    logged_in, abuse_blocked, language
):
    from django.conf import settings

    logged_in.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    logged_in.post(reverse("unblock", args=[abuse_blocked.hosting.pk]), {"confirm": "on"})
    html = page(logged_in, abuse_blocked)

    history = html[html.index('id="unblock-history"') :]
    assert ".." not in history and "a.m." not in history and "p.m." not in history


@pytest.mark.parametrize("language", ["en", "fr", "it"])
def test_every_time_names_its_zone_and_a_timed_blocks_end_matches_the_smtp_reply(
    logged_in, customer, language, settings
):
    import json
    import re
    from datetime import datetime

    from enforcement.blockstate import value
    from enforcement.policyd import reply

    spam_at(customer.box.address, timezone.now())  # L-SPAM00 for 20 minutes
    block = Block.objects.get(target=customer.box.address)
    logged_in.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    html = page(logged_in, customer)
    smtp = reply(json.loads(value(block)), customer.box.address, datetime.now(block.ends_at.tzinfo))

    zone = timezone.localtime(block.ends_at).strftime("%Z")  # CET or CEST in Paris
    timed = html[html.index('id="timed-blocks"') :]
    assert re.search(rf"\d\d:\d\d {zone}\b", timed)
    utc = re.search(r"(\d\d:\d\d) UTC", timed).group(1)
    assert re.search(rf"until \d{{4}}-\d\d-\d\d {utc}:\d\d UTC", smtp), smtp
    # Every date with a time on the page names its zone.
    for stamp in re.findall(r"\b\d\d:\d\d\b(?:\s\S+)?", html):
        assert stamp.split()[-1] in (zone, "UTC"), stamp
