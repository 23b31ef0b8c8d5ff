"""Early warning: at 80 % of the next mail-abuse threshold the customer gets one e-mail per
window saying how many spam were counted, what happens at the threshold, and what to do."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from abuse.counting import targets_of
from abuse.models import SpamWarning
from abuse.notifications import warning_notify
from abuse.services import spam_warning_issue
from tests.abuse.helpers import T0, spread, standing_code, tier, website_spam_at
from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def box():
    account = CustomerAccountFactory(contact_email="owner@client.test", language="en")
    return MailboxFactory(domain=DomainFactory(hosting__customer=account, name="atelier.example"))


def warnings(target: str) -> list[SpamWarning]:
    return list(SpamWarning.objects.filter(target=target).order_by("created_at"))


def test_the_31st_spam_in_7_days_warns_nobody_and_the_32nd_warns_once(box):
    # 31 spam over six days: never 20 in 24 hours, so no timed L-SPAM10 on the way.
    last = spread(box.address, T0, timedelta(days=6), 31)
    assert warnings(box.address) == []

    spread(box.address, last + timedelta(hours=2), timedelta(hours=1), 1)
    [warning] = warnings(box.address)
    assert (warning.code, warning.spam_count, warning.threshold) == ("L-SPAM20", 32, 40)

    spread(box.address, last + timedelta(hours=4), timedelta(hours=2), 2)  # 33rd and 34th
    assert len(warnings(box.address)) == 1
    assert standing_code(box.address) in (None, "L-SPAM00")


def test_the_warning_e_mail_says_the_count_the_threshold_and_what_to_do(box):
    last = spread(box.address, T0, timedelta(days=6), 32)
    [warning] = warnings(box.address)

    with time_machine.travel(last + timedelta(minutes=1)):
        assert warning_notify(warning_id=warning.pk) is True
        assert warning_notify(warning_id=warning.pk) is False

    [sent] = mail.outbox
    assert sent.to == ["owner@client.test"]
    assert sent.subject == f"{box.address}: 32 spam counted, sending is suspended at 40"
    assert "32 messages sent from" in sent.body and "in the last 7 days" in sent.body
    assert "At 40 spam in 7 days, sending is suspended for mail abuse (code L-SPAM20)" in sent.body
    assert "Change the passwords" in sent.body
    assert f"/h/{box.domain.hosting_id}/tracking/" in sent.body


def test_a_domains_website_spam_warns_at_48_of_the_60_of_l_spam21(box):
    domain = box.domain.name
    for n in range(47):  # eight a day: L-SPAM11's 30 in 24 hours never fires
        website_spam_at(domain, T0 + timedelta(hours=3 * n))
    assert warnings(domain) == []

    website_spam_at(domain, T0 + timedelta(hours=3 * 47))

    [warning] = warnings(domain)
    assert (warning.code, warning.spam_count, warning.threshold, warning.scope) == (
        "L-SPAM21",
        48,
        60,
        "domain",
    )


@pytest.mark.parametrize(("offset", "again"), [(-1, False), (1, True)])
def test_one_warning_per_window_of_the_tier_to_the_second(box, offset, again):
    last = spread(box.address, T0, timedelta(days=6), 32)
    [first] = warnings(box.address)
    message = OutboundMessage.objects.filter(sender=box.address).latest("sent_at")
    address = targets_of(message)[0]

    later = first.created_at + timedelta(days=7, seconds=offset)
    with time_machine.travel(later, tick=False):
        issued = spam_warning_issue(tier=tier("L-SPAM20"), target=address, count=33, now=later)

    assert issued is again
    assert len(warnings(box.address)) == (2 if again else 1)
    assert last < later


def test_after_an_l_spam20_block_the_next_warning_is_for_l_spam30(box):
    last = spread(box.address, T0, timedelta(days=6, hours=20), 40)
    assert standing_code(box.address) == "L-SPAM20"

    # The address's own spam goes on being recorded (pushed by Rspamd) while it is blocked.
    spread(box.address, last + timedelta(days=1), timedelta(days=20), 23)  # 63 in 60 days
    assert [w.code for w in warnings(box.address)] == ["L-SPAM20"]
    spread(box.address, last + timedelta(days=22), timedelta(hours=1), 1)  # the 64th

    assert [w.code for w in warnings(box.address)] == ["L-SPAM20", "L-SPAM30"]
    assert warnings(box.address)[1].spam_count == 64


def test_a_warning_overtaken_by_its_block_is_not_sent(box):
    spread(box.address, T0, timedelta(days=6), 32)
    [warning] = warnings(box.address)
    spread(box.address, T0 + timedelta(days=6, hours=1), timedelta(hours=8), 8)  # the 40th
    assert standing_code(box.address) == "L-SPAM20"

    assert warning_notify(warning_id=warning.pk) is False

    assert mail.outbox == []
    warning.refresh_from_db()
    assert warning.notified_at is not None
