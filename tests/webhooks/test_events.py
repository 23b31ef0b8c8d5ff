"""What the domain's services tell the webhooks, and to whom."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from abuse.notifications import block_notify
from abuse.services import block_lift, blocks_lift_expired, hosting_unblock
from enforcement.counters import REFUSED_KEY, key
from limits.services import webhook_limits_reached_emit
from tests.abuse.helpers import T0, spam_at, standing
from tests.factories import MailboxFactory, UserFactory
from webhooks.events import Event
from webhooks.models import Delivery, Endpoint
from webhooks.services import Occurrence, webhook_events_emit

pytestmark = pytest.mark.django_db


def bodies(event: str) -> list[dict]:
    return [json.loads(d.body) for d in Delivery.objects.filter(event=event).order_by("id")]


def test_a_block_started_is_told_with_its_code_target_and_hosting(endpoint, mailbox):
    spam_at(mailbox.address, timezone.now(), 1)
    [body] = bodies(Event.BLOCK_STARTED)
    assert body["data"]["code"] == "L-SPAM00"
    assert body["data"]["target"] == mailbox.address
    assert body["data"]["block_id"] == standing(mailbox.address).pk
    assert body["hosting"] == {"id": mailbox.domain.hosting_id, "name": mailbox.domain.hosting.name}
    assert body["id"] == str(Delivery.objects.get(event=Event.BLOCK_STARTED).uuid)


def test_an_escalation_is_told_with_the_block_it_replaced_and_not_as_a_lift(endpoint, mailbox):
    spam_at(mailbox.address, timezone.now() - timedelta(minutes=5), 1)
    first = standing(mailbox.address)
    spam_at(mailbox.address, timezone.now(), 19)
    [body] = bodies(Event.BLOCK_ESCALATED)
    assert body["data"]["code"] == "L-SPAM10"
    assert body["data"]["replaces"] == {"block_id": first.pk, "code": "L-SPAM00"}
    assert bodies(Event.BLOCK_LIFTED) == []


def test_every_way_a_block_ends_is_told_with_its_reason(endpoint, mailbox):
    spam_at(mailbox.address, T0, 1)
    blocks_lift_expired(now=T0 + timedelta(hours=1))
    spam_at(mailbox.address, T0 + timedelta(hours=2), 1)
    block_lift(block=standing(mailbox.address), user=UserFactory(is_staff=True))
    other = MailboxFactory(domain=mailbox.domain)
    spam_at(other.address, T0 + timedelta(hours=3), 40)
    assert standing(other.address).code == "L-SPAM20"
    unblock = hosting_unblock(
        hosting=mailbox.domain.hosting, user=UserFactory(), now=T0 + timedelta(days=3)
    )
    told = bodies(Event.BLOCK_LIFTED)
    assert [(b["data"]["target"], b["data"]["reason"]) for b in told] == [
        (mailbox.address, "expired"),
        (mailbox.address, "staff"),
        (other.address, "unblock"),
    ]
    [unblocked] = bodies(Event.HOSTING_UNBLOCKED)
    assert unblocked["data"]["unblock_id"] == unblock.pk
    assert unblocked["data"]["lifted"] == [{"code": "L-SPAM20", "target": other.address}]
    assert unblocked["data"]["by"] == "customer"


def test_an_expired_block_is_told_at_its_own_end_time(endpoint, mailbox):
    spam_at(mailbox.address, timezone.now() - timedelta(hours=1), 1)
    block = standing(mailbox.address)
    blocks_lift_expired()
    [body] = bodies(Event.BLOCK_LIFTED)
    assert body["occurred_at"] == block.ends_at.isoformat()


def test_an_endpoint_hears_only_what_it_subscribed_to(db, receiver, mailbox):
    Endpoint.objects.create(name="tickets", url=receiver.url, events=[Event.HOSTING_UNBLOCKED])
    Endpoint.objects.create(
        name="off", url=receiver.url, events=list(Event.values), is_active=False
    )
    spam_at(mailbox.address, timezone.now(), 1)
    assert not Delivery.objects.exists()


def test_an_occurrence_emitted_again_makes_no_second_delivery(endpoint):
    occurrence = Occurrence(event=Event.BLOCK_STARTED, key="block.started:1", data={"n": 1})
    assert webhook_events_emit(occurrences=[occurrence]) == 1
    assert webhook_events_emit(occurrences=[occurrence, occurrence]) == 0
    assert Delivery.objects.count() == 1


def test_the_suspension_email_is_told_once_it_is_sent(endpoint, mailbox, mailoutbox):
    spam_at(mailbox.address, timezone.now(), 1)
    block_notify(block_id=standing(mailbox.address).pk)
    block_notify(block_id=standing(mailbox.address).pk)
    [body] = bodies(Event.EMAIL_SENT)
    assert body["data"]["template"] == "suspension"
    assert body["data"]["to"] == [mailbox.domain.hosting.customer.contact_email]
    assert body["hosting"]["id"] == mailbox.domain.hosting_id
    assert len(mailoutbox) == 1


def test_a_limit_reached_is_told_once_per_counter_and_hour(endpoint, mailbox, redis_client):
    redis_client.delete(REFUSED_KEY)
    now = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, an hour's start
    redis_client.zadd(REFUSED_KEY, {key("mailbox", mailbox.address): now + 10})
    redis_client.zadd(REFUSED_KEY, {key("domain", mailbox.domain.name): now + 20})
    redis_client.zadd(REFUSED_KEY, {"lwsmail:rate:nonsense": now + 30})
    try:
        assert webhook_limits_reached_emit(redis=redis_client, now=now + 60) == 2
        redis_client.zadd(REFUSED_KEY, {key("mailbox", mailbox.address): now + 3599})
        assert webhook_limits_reached_emit(redis=redis_client, now=now + 3599) == 0
        redis_client.zadd(REFUSED_KEY, {key("mailbox", mailbox.address): now + 3600})
        assert webhook_limits_reached_emit(redis=redis_client, now=now + 3601) == 1
    finally:
        redis_client.delete(REFUSED_KEY)
    told = bodies(Event.LIMIT_REACHED)
    assert {(b["data"]["kind"], b["hosting"]["id"]) for b in told} == {
        ("mailbox", mailbox.domain.hosting_id),
        ("domain", mailbox.domain.hosting_id),
    }


def test_a_compromise_hold_is_told_once_with_its_reason(endpoint, mailbox):
    from limits.services import hold_record

    held = {"t": "a1b2c3d4e5f6", "at": timezone.now().timestamp(), "why": "networks", "n": 6,
            "max": 5, "nets": ["192.0.2.0/24", "2001:db8::/48"]}  # fmt: skip
    hold_record(address=mailbox.address, entry=held)
    hold_record(address=mailbox.address, entry=held)  # the task redelivered
    [body] = bodies(Event.MAILBOX_HELD)
    assert body["data"]["code"] == "L-HOLD"
    assert body["data"]["mailbox"] == mailbox.address
    assert (body["data"]["reason"], body["data"]["observed"], body["data"]["threshold"]) == (
        "networks",
        6,
        5,
    )
    assert body["data"]["networks"] == ["192.0.2.0/24", "2001:db8::/48"]
