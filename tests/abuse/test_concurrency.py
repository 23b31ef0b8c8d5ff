from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from abuse.models import Block, SpamWarning, Unblock
from abuse.selectors import Refusal
from abuse.services import UnblockRefused, hosting_unblock
from ingest.recording import message_record
from tests.abuse.helpers import spam_at, spread, standing_code
from tests.concurrency import run_concurrently
from tests.factories import MailboxFactory, UserFactory, message_data
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_concurrent_spam_of_one_address_gives_each_block_once_at_its_threshold(mailbox):
    now = timezone.now()
    workers, per_worker = 4, 10

    def send(i: int) -> None:
        for _ in range(per_worker):
            message_record(data=message_data(sender=mailbox.address, sent_at=now))

    results = run_concurrently(send, workers)

    assert results == [None] * workers
    assert OutboundMessage.objects.count() == 40
    blocks = list(Block.objects.filter(target=mailbox.address).order_by("id"))
    assert [(b.code, b.spam_count) for b in blocks] == [
        ("L-SPAM00", 1),
        ("L-SPAM10", 20),
        ("L-SPAM20", 40),
    ]
    assert Block.objects.unlifted().filter(target=mailbox.address).count() == 1


def test_concurrent_spam_of_two_addresses_fires_the_domain_tier_once_at_30(mailbox):
    other = MailboxFactory(domain=mailbox.domain)
    now = timezone.now()
    senders = [mailbox.address, other.address]

    def send(i: int) -> None:
        for _ in range(15):
            message_record(data=message_data(sender=senders[i % 2], sent_at=now))

    assert run_concurrently(send, 2) == [None, None]

    domain_blocks = Block.objects.filter(target=mailbox.domain.name)
    assert list(domain_blocks.values_list("code", "spam_count")) == [("L-SPAM11", 30)]


def test_the_same_report_recorded_by_many_workers_at_once_is_stored_once(mailbox):
    data = message_data(sender=mailbox.address, queue_id="4Zq9Kx1mP")

    results = run_concurrently(lambda i: message_record(data=data), 6)

    assert sorted(r.created for r in results) == [False] * 5 + [True]
    assert OutboundMessage.objects.count() == 1
    assert Block.objects.count() == 1


def test_the_same_unattributed_report_from_many_workers_is_stored_once(db):
    data = message_data(sender="ghost@unknown.example", queue_id="1AbCdEf")

    results = run_concurrently(lambda i: message_record(data=data), 6)

    assert sorted(r.created for r in results) == [False] * 5 + [True]
    assert OutboundMessage.objects.count() == 1


def test_two_clicks_on_unblock_at_once_unblock_once(mailbox):
    start = timezone.now() - timedelta(days=2)
    spam_at(mailbox.address, start, 40)
    assert standing_code(mailbox.address) == "L-SPAM20"
    customer = UserFactory()

    results = run_concurrently(
        lambda i: hosting_unblock(hosting=mailbox.domain.hosting, user=customer), 8
    )

    unblocks = [r for r in results if isinstance(r, Unblock)]
    refusals = [r for r in results if isinstance(r, UnblockRefused)]
    assert len(unblocks) == 1
    assert len(refusals) == 7
    assert {r.reason for r in refusals} == {Refusal.NOTHING_BLOCKED}
    assert Unblock.objects.count() == 1
    assert not Block.objects.active().exists()


def test_four_workers_crossing_80_percent_at_once_warn_the_customer_once(mailbox):
    now = timezone.now()
    spread(mailbox.address, now - timedelta(days=6), timedelta(days=5), 30)

    def send(i: int) -> None:
        message_record(data=message_data(sender=mailbox.address, sent_at=now))

    assert run_concurrently(send, 4) == [None] * 4

    warnings = SpamWarning.objects.filter(target=mailbox.address)
    assert list(warnings.values_list("code", "spam_count")) == [("L-SPAM20", 32)]
