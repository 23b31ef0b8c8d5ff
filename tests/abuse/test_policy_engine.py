from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from abuse.models import Block
from abuse.services import blocks_lift_expired
from ingest.recording import message_record
from tests.abuse.helpers import (
    T0,
    spam_at,
    spread,
    standing,
    standing_code,
    tier,
    website_spam_at,
    website_uid,
)
from tests.factories import message_data, record_spam
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
ADDRESS_TIERS = ["L-SPAM10", "L-SPAM20", "L-SPAM30", "L-SPAM40"]
DOMAIN_TIERS = ["L-SPAM11", "L-SPAM21", "L-SPAM31"]


def test_a_single_spam_blocks_the_address_for_20_minutes_with_l_spam00(mailbox):
    spam_at(mailbox.address, T0)

    block = standing(mailbox.address)
    assert block.code == "L-SPAM00"
    assert block.ends_at == T0 + timedelta(minutes=20)
    assert block.complaint_ends_at is None


def test_a_message_scoring_exactly_8_is_not_spam(mailbox):
    spam_at(mailbox.address, T0, score=8.0)
    spam_at(mailbox.address, T0, score=8.01)

    scores = sorted(OutboundMessage.objects.values_list("score", "is_spam"))
    assert scores == [(8.0, False), (8.01, True)]


def test_a_message_rspamd_rejected_counts_as_spam_whatever_its_score(mailbox):
    spam_at(mailbox.address, T0, score=0.0, action="reject")

    message = OutboundMessage.objects.get()
    assert (message.status, message.is_spam, message.code) == ("rejected", True, "L-SPAM00")


@pytest.mark.parametrize("code", ADDRESS_TIERS)
def test_each_address_code_fires_exactly_at_its_threshold(mailbox, code):
    rule = tier(code)
    span = rule.window * 0.9
    last = spread(mailbox.address, T0, span, rule.threshold - 1)
    assert standing_code(mailbox.address) != code

    spam_at(mailbox.address, last + SECOND)

    block = standing(mailbox.address)
    assert block.code == code
    assert block.spam_count == rule.threshold


@pytest.mark.parametrize("code", DOMAIN_TIERS)
def test_each_domain_code_fires_exactly_at_its_threshold(mailbox, code):
    rule = tier(code)
    domain = mailbox.domain.name
    website_spam_at(domain, T0, rule.threshold - 1)
    assert standing_code(domain) != code

    website_spam_at(domain, T0 + SECOND)

    assert standing_code(domain) == code


@pytest.mark.parametrize("code", ADDRESS_TIERS)
@pytest.mark.parametrize(("offset", "fires"), [(-SECOND, True), (SECOND, False)])
def test_a_spam_one_second_outside_the_window_does_not_count(mailbox, code, offset, fires):
    rule = tier(code)
    spam_at(mailbox.address, T0)
    spam_at(mailbox.address, T0 + rule.window / 2, rule.threshold - 2)

    spam_at(mailbox.address, T0 + rule.window + offset)

    assert (standing_code(mailbox.address) == code) is fires


@pytest.mark.parametrize("code", DOMAIN_TIERS)
@pytest.mark.parametrize(("offset", "fires"), [(-SECOND, True), (SECOND, False)])
def test_a_domain_spam_one_second_outside_the_window_does_not_count(mailbox, code, offset, fires):
    rule = tier(code)
    domain = mailbox.domain.name
    website_spam_at(domain, T0)
    website_spam_at(domain, T0 + rule.window / 2, rule.threshold - 2)

    website_spam_at(domain, T0 + rule.window + offset)

    assert (standing_code(domain) == code) is fires


def test_the_address_escalates_00_10_20_30_40(mailbox):
    seen = []
    with time_machine.travel(T0, tick=False):
        for n in range(1, 121):
            record_spam(mailbox.address)
            seen.append((n, standing_code(mailbox.address)))

    changes = [(n, code) for i, (n, code) in enumerate(seen) if i == 0 or seen[i - 1][1] != code]
    assert changes == [
        (1, "L-SPAM00"),
        (20, "L-SPAM10"),
        (40, "L-SPAM20"),
        (80, "L-SPAM30"),
        (120, "L-SPAM40"),
    ]
    history = list(Block.objects.filter(target=mailbox.address).order_by("id"))
    assert [b.lift_reason for b in history] == ["escalated"] * 4 + [""]
    assert [b.replaced_by_id for b in history[:-1]] == [b.id for b in history[1:]]


def test_the_domain_escalates_11_21_31_for_website_spam(mailbox):
    domain = mailbox.domain.name
    seen = {}
    with time_machine.travel(T0, tick=False):
        for n in range(1, 121):
            record_spam(f"contact@{domain}", script="/var/www/form.php", uid=website_uid(domain))
            seen.setdefault(standing_code(domain), n)

    assert seen == {None: 1, "L-SPAM11": 30, "L-SPAM21": 60, "L-SPAM31": 120}
    assert standing(f"contact@{domain}") is None


def test_spam_from_several_addresses_adds_up_for_their_domain(mailbox):
    from tests.factories import MailboxFactory

    other = MailboxFactory(domain=mailbox.domain)
    spam_at(mailbox.address, T0, 15)
    spam_at(other.address, T0, 14)
    assert standing_code(mailbox.domain.name) is None

    spam_at(other.address, T0)

    assert standing_code(mailbox.domain.name) == "L-SPAM11"
    assert standing_code(other.address) == "L-SPAM00"


def test_a_report_recorded_twice_counts_once(mailbox):
    with time_machine.travel(T0, tick=False):
        for _ in range(18):
            record_spam(mailbox.address)
        data = message_data(sender=mailbox.address, queue_id="4XyZ1abc")
        first = message_record(data=data)
        again = message_record(data=data)
        assert (first.created, again.created) == (True, False)
        assert again.message.pk == first.message.pk
        assert standing_code(mailbox.address) == "L-SPAM00"

        record_spam(mailbox.address)

    assert OutboundMessage.objects.count() == 20
    assert standing_code(mailbox.address) == "L-SPAM10"


@pytest.mark.parametrize(("code", "count"), [("L-SPAM00", 1), ("L-SPAM10", 20)])
def test_a_timed_block_ends_on_time(mailbox, code, count):
    spam_at(mailbox.address, T0, count)
    block = standing(mailbox.address)
    assert block.code == code
    end = T0 + tier(code).block_duration

    assert block.is_active(end - SECOND)
    assert not block.is_active(end)
    assert Block.objects.active(end - SECOND).filter(pk=block.pk).exists()
    assert not Block.objects.active(end + SECOND).filter(pk=block.pk).exists()

    assert blocks_lift_expired(now=end - SECOND) == 0
    assert blocks_lift_expired(now=end + SECOND) == 1
    block.refresh_from_db()
    assert (block.lifted_at, block.lift_reason) == (end, "expired")


def test_a_weaker_code_never_shortens_a_stronger_timed_block(mailbox):
    spam_at(mailbox.address, T0, 20)
    ten = standing(mailbox.address)
    assert ten.code == "L-SPAM10"

    spam_at(mailbox.address, T0 + timedelta(hours=5))

    assert standing(mailbox.address) == ten
    ten.refresh_from_db()
    assert ten.ends_at == T0 + timedelta(hours=24)


def test_a_weaker_code_never_replaces_a_mail_abuse_block(mailbox):
    spam_at(mailbox.address, T0 - timedelta(days=3), 40)
    twenty = standing(mailbox.address)
    assert twenty.code == "L-SPAM20"

    # 20 spam in 24 hours would be L-SPAM10 on their own.
    spam_at(mailbox.address, T0, 20)

    assert standing(mailbox.address) == twenty
    twenty.refresh_from_db()
    assert twenty.ends_at is None


def test_an_expired_timed_block_gives_way_to_a_new_one(mailbox):
    spam_at(mailbox.address, T0)
    first = standing(mailbox.address)

    spam_at(mailbox.address, T0 + timedelta(minutes=20, seconds=1))

    first.refresh_from_db()
    assert first.lift_reason == "expired"
    assert standing(mailbox.address).started_at == T0 + timedelta(minutes=20, seconds=1)


def test_a_mail_abuse_block_opens_a_complaint_period(mailbox):
    spam_at(mailbox.address, T0, 40)

    block = standing(mailbox.address)
    assert block.code == "L-SPAM20"
    assert block.ends_at is None
    assert block.complaint_ends_at == T0 + timedelta(hours=24)


def test_a_disabled_tier_never_fires(mailbox):
    tier("L-SPAM00").__class__.objects.filter(code="L-SPAM00").update(enabled=False)

    spam_at(mailbox.address, T0)

    assert standing(mailbox.address) is None


def test_spam_from_an_unknown_sender_is_stored_without_blocking(db):
    spam_at("stranger@nowhere.example", T0, 3)

    assert OutboundMessage.objects.filter(domain=None).count() == 3
    assert not Block.objects.exists()
