"""A meter shows what was sent, or says it does not know: never a false 0. Counting starts
when the limits are published into a Redis; what came before is counted again from the
history by counters_replay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

from enforcement.counters import SINCE_KEY, Counter, admit, key, usage
from limits.state import counters_replay, limits_rebuild
from tracking.models import OutboundMessage
from tracking.partitions import MESSAGES, partitions_cover

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)  # half an hour into a new year


def sent(box, at: datetime, recipients: int, status: str = "sent") -> None:
    partitions_cover(scheme=MESSAGES, moments=[at])
    OutboundMessage.objects.create(
        identity=uuid.uuid4().hex,
        hosting=box.domain.hosting,
        domain=box.domain,
        mailbox=box,
        sender=box.address,
        source="mailbox",
        recipients=[f"r{n}@example.org" for n in range(recipients)],
        sent_at=at,
        score=1.0,
        status=status,
    )


def test_without_the_counting_mark_the_use_is_not_known(clean_redis, customer):
    clean_redis.delete(SINCE_KEY)
    admit(clean_redis, [Counter("mailbox", customer.box.address, 200, 1000)])

    use = usage(clean_redis, [key("mailbox", customer.box.address)])

    assert use[key("mailbox", customer.box.address)].last_hour is None


def test_publishing_the_limits_marks_when_counting_began_and_keeps_an_older_mark(clean_redis):
    clean_redis.delete(SINCE_KEY)
    with time_machine.travel(NOW, tick=False):
        limits_rebuild()
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        limits_rebuild()

    assert float(clean_redis.get(SINCE_KEY)) == NOW.timestamp()


@pytest.mark.parametrize(("before", "partial"), [(3599, True), (3601, False)])
def test_a_window_that_began_before_counting_says_since_when(
    clean_redis, customer, before, partial
):
    # Counting began one second inside the last hour, or one second before it.
    clean_redis.set(SINCE_KEY, NOW.timestamp() - before)

    use = usage(clean_redis, [key("mailbox", customer.box.address)], now=NOW.timestamp())[
        key("mailbox", customer.box.address)
    ]

    assert (use.last_hour, use.last_day) == (0, 0)
    assert (use.hour_since is not None) is partial
    assert use.day_since is not None


def test_the_page_says_since_when_it_counted(logged_in, customer, clean_redis):
    began = datetime.now(UTC) - timedelta(minutes=10)
    clean_redis.set(SINCE_KEY, began.timestamp())

    page = logged_in.get(reverse("sending-limits", args=[customer.hosting.pk])).content.decode()

    assert "counted since" in page and "0 of 200" in page


def test_the_replay_counts_the_last_24_hours_that_redis_never_counted(clean_redis, customer):
    clean_redis.delete(SINCE_KEY)
    box = customer.box
    sent(box, NOW - timedelta(hours=24, seconds=1), 7)  # outside the day
    sent(box, NOW - timedelta(hours=23), 3)
    sent(box, NOW - timedelta(minutes=30), 2)
    sent(box, NOW - timedelta(minutes=20), 5, status="blocked")  # refused: never counted
    with time_machine.travel(NOW, tick=False):
        assert counters_replay(now=NOW.timestamp()) == 2

    use = usage(clean_redis, [key("mailbox", box.address)], now=NOW.timestamp())
    assert use[key("mailbox", box.address)].last_hour == 2
    assert use[key("mailbox", box.address)].last_day == 5
    assert use[key("mailbox", box.address)].day_since is None  # whole again
    domain = usage(clean_redis, [key("domain", box.domain.name)], now=NOW.timestamp())
    assert domain[key("domain", box.domain.name)].last_day == 5


def test_the_replay_skips_mail_no_hosting_owns(clean_redis, customer):
    clean_redis.delete(SINCE_KEY)
    partitions_cover(scheme=MESSAGES, moments=[NOW - timedelta(hours=1)])
    OutboundMessage.objects.create(
        identity=uuid.uuid4().hex,
        sender="nobody@unknown.example",
        source="website",
        recipients=["r@example.org"],
        sent_at=NOW - timedelta(hours=1),
        score=1.0,
    )
    sent(customer.box, NOW - timedelta(hours=2), 3)

    with time_machine.travel(NOW, tick=False):
        assert counters_replay(now=NOW.timestamp()) == 1
    assert not clean_redis.exists(key("hosting", "none"))


def test_the_replay_counts_only_what_came_before_counting_resumed(clean_redis, customer):
    box = customer.box
    clean_redis.set(SINCE_KEY, (NOW - timedelta(minutes=10)).timestamp())
    sent(box, NOW - timedelta(minutes=30), 2)  # before: Redis never counted it
    sent(box, NOW - timedelta(minutes=5), 4)  # after: counted live already
    admit(
        clean_redis,
        [Counter("mailbox", box.address, 0, 0)],
        recipients=4,
        now=(NOW - timedelta(minutes=5)).timestamp(),
    )
    limits_rebuild()

    assert counters_replay(now=NOW.timestamp()) == 1
    use = usage(clean_redis, [key("mailbox", box.address)], now=NOW.timestamp())
    assert use[key("mailbox", box.address)].last_hour == 6


def test_the_replay_refuses_to_count_twice_with_a_message(clean_redis, customer):
    clean_redis.set(SINCE_KEY, 0)
    limits_rebuild()

    with pytest.raises(CommandError, match="Nothing to replay"):
        call_command("counters_replay")
