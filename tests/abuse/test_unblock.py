from __future__ import annotations

from datetime import timedelta

import pytest

from abuse.models import Block, Unblock
from abuse.selectors import Refusal, unblock_availability
from abuse.services import UnblockRefused, hosting_unblock
from hosting.models import AuditEvent
from hosting.services import hosting_grant_exceptional_unblock
from tests.abuse.helpers import T0, spam_at, standing, standing_code, website_spam_at
from tests.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


@pytest.fixture
def customer():
    return UserFactory()


def block_l_spam20(mailbox, at=T0):
    """40 spam at once: L-SPAM20, or stronger when earlier spam still counts."""
    spam_at(mailbox.address, at, 40)
    block = standing(mailbox.address)
    assert block.is_mail_abuse and block.rank >= 20
    return block


def test_unblock_lifts_every_mail_abuse_block_of_the_hosting_at_once(mailbox, customer):
    other = MailboxFactory(domain=mailbox.domain)
    block_l_spam20(mailbox)
    block_l_spam20(other)
    assert standing_code(mailbox.domain.name) == "L-SPAM21"

    unblock = hosting_unblock(
        hosting=mailbox.domain.hosting, user=customer, client_ip="198.51.100.7", now=T0 + 2 * DAY
    )

    assert not Block.objects.active(T0 + 2 * DAY).exists()
    assert {(b["code"], b["target"]) for b in unblock.lifted} == {
        ("L-SPAM20", mailbox.address),
        ("L-SPAM20", other.address),
        ("L-SPAM21", mailbox.domain.name),
    }
    assert set(Block.objects.filter(unblock=unblock).values_list("lift_reason", flat=True)) == {
        "unblock"
    }
    event = AuditEvent.objects.get(action="hosting.unblocked")
    assert (event.actor, event.client_ip, event.actor_kind) == (
        customer,
        "198.51.100.7",
        "customer",
    )


def test_unblock_leaves_timed_blocks_to_run_out(mailbox, customer):
    other = MailboxFactory(domain=mailbox.domain)
    block_l_spam20(mailbox)
    spam_at(other.address, T0 + 2 * DAY)

    hosting_unblock(hosting=mailbox.domain.hosting, user=customer, now=T0 + 2 * DAY)

    assert standing_code(other.address) == "L-SPAM00"


def test_unblock_is_refused_when_nothing_is_blocked(mailbox, customer):
    spam_at(mailbox.address, T0)  # a timed L-SPAM00 is not mail abuse

    with pytest.raises(UnblockRefused) as refused:
        hosting_unblock(hosting=mailbox.domain.hosting, user=customer, now=T0)

    assert refused.value.reason == Refusal.NOTHING_BLOCKED


@pytest.mark.parametrize(
    ("code", "count", "period"),
    [
        ("L-SPAM20", 40, timedelta(hours=24)),
        ("L-SPAM30", 80, timedelta(hours=72)),
        ("L-SPAM40", 120, timedelta(days=7)),
    ],
)
def test_unblock_waits_for_the_complaint_period(mailbox, customer, code, count, period):
    spam_at(mailbox.address, T0, count)
    assert standing_code(mailbox.address) == code
    hosting = mailbox.domain.hosting

    with pytest.raises(UnblockRefused) as refused:
        hosting_unblock(hosting=hosting, user=customer, now=T0 + period - SECOND)
    assert refused.value.reason == Refusal.COMPLAINT_PERIOD
    assert refused.value.available_from == T0 + period
    assert str(refused.value).startswith("The complaint period")

    hosting_unblock(hosting=hosting, user=customer, now=T0 + period)
    assert standing(mailbox.address) is None


def test_a_domain_block_waits_for_its_own_complaint_period(mailbox, customer):
    domain = mailbox.domain.name
    website_spam_at(domain, T0, 60)
    assert standing_code(domain) == "L-SPAM21"

    availability = unblock_availability(hosting=mailbox.domain.hosting, now=T0 + DAY - SECOND)
    assert (availability.allowed, availability.available_from) == (False, T0 + DAY)
    assert unblock_availability(hosting=mailbox.domain.hosting, now=T0 + DAY).allowed


def test_only_one_unblock_per_90_days_day_89_refused_day_90_allowed(mailbox, customer):
    hosting = mailbox.domain.hosting
    block_l_spam20(mailbox)
    first = T0 + 2 * DAY
    hosting_unblock(hosting=hosting, user=customer, now=first)

    block_l_spam20(mailbox, at=first + 30 * DAY)
    with pytest.raises(UnblockRefused) as refused:
        hosting_unblock(hosting=hosting, user=customer, now=first + 89 * DAY)
    assert refused.value.reason == Refusal.INTERVAL
    assert refused.value.available_from == first + 90 * DAY
    assert "once every 90 days" in str(refused.value)
    with pytest.raises(UnblockRefused):
        hosting_unblock(hosting=hosting, user=customer, now=first + 90 * DAY - SECOND)

    hosting_unblock(hosting=hosting, user=customer, now=first + 90 * DAY)

    assert Unblock.objects.filter(hosting=hosting).count() == 2
    assert standing(mailbox.address) is None


def test_the_refusal_names_the_later_of_interval_and_complaint_period(mailbox, customer):
    hosting = mailbox.domain.hosting
    block_l_spam20(mailbox)
    first = T0 + 2 * DAY
    hosting_unblock(hosting=hosting, user=customer, now=first)
    # A fresh L-SPAM20 whose 24 h complaint period ends 12 h after the 90 days.
    late = first + 89 * DAY + timedelta(hours=12)
    spam_at(mailbox.address, late, 40)
    assert standing_code(mailbox.address) == "L-SPAM20"

    availability = unblock_availability(hosting=hosting, now=late + SECOND)

    assert availability.reason == Refusal.COMPLAINT_PERIOD
    assert availability.available_from == late + DAY


def test_an_exceptional_unblock_from_staff_lets_one_unblock_through_once(mailbox, customer):
    staff = UserFactory(is_staff=True)
    hosting = mailbox.domain.hosting
    block_l_spam20(mailbox)
    hosting_unblock(hosting=hosting, user=customer, now=T0 + 2 * DAY)
    block_l_spam20(mailbox, at=T0 + 10 * DAY)

    assert hosting_grant_exceptional_unblock(hosting=hosting, user=staff)
    assert not hosting_grant_exceptional_unblock(hosting=hosting, user=staff)
    unblock = hosting_unblock(hosting=hosting, user=customer, now=T0 + 14 * DAY)

    assert unblock.used_exceptional_grant
    hosting.refresh_from_db()
    assert not hosting.has_exceptional_unblock()
    block_l_spam20(mailbox, at=T0 + 20 * DAY)
    with pytest.raises(UnblockRefused):
        hosting_unblock(hosting=hosting, user=customer, now=T0 + 30 * DAY)
    assert (
        AuditEvent.objects.filter(action="hosting.exceptional_unblock_granted", actor=staff).count()
        == 1
    )


def test_after_an_unblock_the_lifted_tiers_count_afresh(mailbox, customer):
    hosting = mailbox.domain.hosting
    block_l_spam20(mailbox)
    hosting_unblock(hosting=hosting, user=customer, now=T0 + 2 * DAY)

    # 40 spam in the last 7 days before the unblock must not block again at the 41st.
    spam_at(mailbox.address, T0 + 2 * DAY + SECOND)
    assert standing_code(mailbox.address) == "L-SPAM00"

    spam_at(mailbox.address, T0 + 3 * DAY, 38)
    assert standing_code(mailbox.address) == "L-SPAM10"  # 39 in a day, since the unblock
    spam_at(mailbox.address, T0 + 3 * DAY)
    # The 40th since the unblock is also the 80th in 60 days: L-SPAM30 wins over L-SPAM20.
    assert standing_code(mailbox.address) == "L-SPAM30"


def test_an_unblock_does_not_reset_the_stronger_tiers(mailbox, customer):
    hosting = mailbox.domain.hosting
    spam_at(mailbox.address, T0, 79)  # L-SPAM20; 79 of L-SPAM30's 80 in 60 days
    hosting_unblock(hosting=hosting, user=customer, now=T0 + 2 * DAY)

    spam_at(mailbox.address, T0 + 3 * DAY)

    assert standing_code(mailbox.address) == "L-SPAM30"
