from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from abuse.models import Block, SpamWarning
from ingest.recording import message_record, messages_record
from tests.concurrency import run_concurrently
from tests.factories import MailboxFactory, SystemUserFactory, message_data, record_spam
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


def spam_run(mailbox, now, prefix: str) -> list:
    """130 messages over the last 20 hours, oldest first, one in 11 ham: the address and
    the domain go up their tiers one after the other along it."""
    datas = []
    for n in range(130):
        sent_at = now - timedelta(hours=20) + timedelta(minutes=9 * n)
        score = 1.0 if n % 11 == 0 else 12.0
        datas.append(
            message_data(
                sender=mailbox.address, score=score, sent_at=sent_at, queue_id=f"{prefix}{n}"
            )
        )
    return datas


def outcome(mailbox, prefix: str) -> tuple[list, list, int]:
    def trigger(block: Block) -> str:
        return OutboundMessage.objects.get(pk=block.trigger_message_id).queue_id.removeprefix(
            prefix
        )

    # By trigger message, then code: a batch starts them target by target, so ids differ.
    blocks = (
        (b.scope, b.code, b.spam_count, trigger(b), b.lifted_at is None, b.lift_reason)
        for b in Block.objects.filter(domain=mailbox.domain)
    )
    codes = sorted(
        (m.queue_id.removeprefix(prefix), m.code)
        for m in OutboundMessage.objects.filter(domain=mailbox.domain).exclude(code="")
    )
    warnings = SpamWarning.objects.filter(hosting=mailbox.domain.hosting).count()
    return sorted(blocks, key=lambda b: (int(b[3]), b[1])), codes, warnings


@pytest.mark.django_db
def test_a_batch_starts_every_block_at_the_message_that_one_by_one_would():
    now = timezone.now()
    one, batched = MailboxFactory(), MailboxFactory()
    for data in spam_run(one, now, "O"):
        message_record(data=data, now=now)
    datas = spam_run(batched, now, "B")
    for start in range(0, len(datas), 50):  # three batches, as a worker drains them
        messages_record(datas=datas[start : start + 50], now=now)

    expected = outcome(one, "O")
    assert outcome(batched, "B") == expected
    assert [code for _scope, code, *_ in expected[0]] == [
        "L-SPAM10",
        "L-SPAM11",
        "L-SPAM20",
        "L-SPAM21",
        "L-SPAM30",
    ]
    assert expected[2] >= 2  # warned on the way


@pytest.mark.django_db
def test_the_40th_spam_of_a_batch_is_the_one_that_starts_l_spam20(mailbox):
    now = timezone.now()
    datas = [
        message_data(
            sender=mailbox.address,
            sent_at=now - timedelta(days=2) + timedelta(minutes=n),
            queue_id=f"F{n}",
        )
        for n in range(45)
    ]

    messages_record(datas=list(reversed(datas)), now=now)  # handed over in any order

    block = Block.objects.get(code="L-SPAM20")
    assert OutboundMessage.objects.get(pk=block.trigger_message_id).queue_id == "F39"
    assert OutboundMessage.objects.get(queue_id="F39").code == "L-SPAM20"
    assert block.spam_count == 40


@pytest.mark.django_db
def test_one_batch_ends_one_targets_expired_block_and_keeps_anothers_standing_one():
    now = timezone.now()
    ran_out, blocked = MailboxFactory(), MailboxFactory()
    with time_machine.travel(now - timedelta(minutes=30), tick=False):
        record_spam(ran_out.address)  # L-SPAM00, 20 minutes: over by now
    with time_machine.travel(now - timedelta(minutes=5), tick=False):
        record_spam(blocked.address)  # L-SPAM00 still standing
    first = {b.target: b.pk for b in Block.objects.all()}

    messages_record(
        datas=[
            message_data(sender=ran_out.address, sent_at=now, queue_id="R1"),
            message_data(sender=blocked.address, sent_at=now, queue_id="K1"),
        ],
        now=now,
    )

    old = Block.objects.get(pk=first[ran_out.address])
    assert (old.lift_reason, old.lifted_at) == (Block.LiftReason.EXPIRED, old.ends_at)
    new = Block.objects.active(now).get(target=ran_out.address)
    assert new.code == "L-SPAM00"
    assert OutboundMessage.objects.get(pk=new.trigger_message_id).queue_id == "R1"
    assert Block.objects.active(now).get(target=blocked.address).pk == first[blocked.address]
    assert OutboundMessage.objects.get(queue_id="K1").code == ""


@pytest.mark.django_db
def test_a_batch_copied_in_reads_back_as_the_orm_would_have_stored_it(mailbox):
    from dataclasses import replace

    from django.forms.models import model_to_dict

    from tracking.services import messages_store

    datas = [
        replace(
            message_data(sender=mailbox.address, score=12),  # an int score, as JSON may give
            recipients=["ärger@example.de", "x@example.org"],
            subject="Réduction già € \U0001f600",
            client_ip="2001:db8::1",
            required_score=None,
            message_id="<id@x>",
        ),
        replace(message_data(sender="who@elsewhere.example", score=0.5), client_ip="203.0.113.9"),
    ]
    now = timezone.now()

    stored = messages_store(datas=datas, now=now)

    assert [m.pk for m in stored] == sorted(m.pk for m in stored)
    assert all(not m._state.adding for m in stored)
    for message in stored:
        read = OutboundMessage.objects.get(pk=message.pk)
        assert model_to_dict(read) == model_to_dict(message)
        assert bytes(read.content.raw) == datas[0].raw
    # The sequence moved on: an ORM insert after a COPY gets a new id.
    later = messages_store(datas=[message_data(sender=mailbox.address)], now=now)
    assert later[0].pk > max(m.pk for m in stored)
