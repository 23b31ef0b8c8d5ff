from __future__ import annotations

import pytest
from django.utils import timezone

from abuse.models import Block
from ingest.recording import messages_record
from tests.concurrency import run_concurrently
from tests.factories import MailboxFactory, SystemUserFactory, message_data
from tracking.models import MessageContent, OutboundMessage


def batch(mailbox, *, ham: int, spam: int, prefix: str) -> list:
    now = timezone.now()
    datas = [
        message_data(sender=mailbox.address, score=1.0, sent_at=now, queue_id=f"{prefix}H{n}")
        for n in range(ham)
    ]
    datas += [
        message_data(sender=mailbox.address, score=12.0, sent_at=now, queue_id=f"{prefix}S{n}")
        for n in range(spam)
    ]
    return datas


@pytest.mark.django_db
def test_a_batch_stores_ham_in_bulk_and_spam_through_the_engine(mailbox):
    datas = batch(mailbox, ham=30, spam=20, prefix="A")

    assert messages_record(datas=datas) == 50

    assert OutboundMessage.objects.filter(is_spam=False, mailbox=mailbox).count() == 30
    assert MessageContent.objects.count() == 50
    assert Block.objects.active().get(target=mailbox.address).code == "L-SPAM10"


@pytest.mark.django_db
def test_a_batch_recorded_again_stores_nothing_new(mailbox):
    datas = batch(mailbox, ham=5, spam=2, prefix="B")
    messages_record(datas=datas)

    assert messages_record(datas=datas + datas) == 0

    assert OutboundMessage.objects.count() == 7


@pytest.mark.django_db
def test_unknown_senders_and_website_scripts_are_attributed_in_a_batch(mailbox):
    now = timezone.now()
    other = MailboxFactory()
    www = SystemUserFactory(hosting=mailbox.domain.hosting)
    datas = [
        message_data(sender="x@nowhere.example", score=1.0, sent_at=now, queue_id="C1"),
        message_data(
            sender=f"www@{mailbox.domain.name}",
            score=1.0,
            sent_at=now,
            queue_id="C2",
            script="form.php",
            uid=www.uid,
        ),
        message_data(sender=other.address, score=1.0, sent_at=now, queue_id="C3"),
    ]

    messages_record(datas=datas)

    got = {m.queue_id: (m.source, m.domain_id, m.mailbox_id) for m in OutboundMessage.objects.all()}
    assert got == {
        "C1": ("mailbox", None, None),  # authenticated, but not one of ours
        "C2": ("website", mailbox.domain_id, None),
        "C3": ("mailbox", other.domain_id, other.pk),
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_overlapping_batches_from_concurrent_workers_store_each_message_once(mailbox):
    datas = batch(mailbox, ham=40, spam=0, prefix="D")
    halves = [datas[:30], datas[10:]]  # 20 messages in both

    results = run_concurrently(lambda i: messages_record(datas=halves[i]), 2)

    assert sum(results) == 40
    assert OutboundMessage.objects.count() == 40


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_whose_spam_shares_two_domains_never_deadlock():
    from datetime import timedelta

    one, two = MailboxFactory(), MailboxFactory()
    now = timezone.now()

    def spam(box, n: int, prefix: str, at) -> list:
        return [
            message_data(
                sender=box.address,
                score=12.0,
                sent_at=at + timedelta(milliseconds=n),
                queue_id=f"{prefix}{n}",
            )
            for n in range(n)
        ]

    # Sent in opposite orders: one domain's spam first in one batch, last in the other.
    batches = [
        spam(one, 25, "E", now) + spam(two, 25, "F", now + timedelta(seconds=1)),
        spam(two, 25, "G", now) + spam(one, 25, "H", now + timedelta(seconds=1)),
    ]
    results = run_concurrently(lambda i: messages_record(datas=batches[i]), 2)

    assert results == [50, 50], results  # a deadlock would have failed one batch
    assert OutboundMessage.objects.filter(is_spam=True).count() == 100
