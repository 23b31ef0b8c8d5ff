"""Compromise detection in the counting script, in a real Redis: the volume and the client
networks that hold a mailbox, at the edges of their thresholds and of the hour."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings

from enforcement.counters import (
    HOLDS_KEY,
    Counter,
    Detection,
    Held,
    Refusal,
    admit,
    key,
    usage,
)
from tests.concurrency import run_concurrently

T0 = datetime(2026, 2, 28, 23, 30, 0, tzinfo=UTC).timestamp()  # the night before March
BOX = "contact@boulangerie.example"


def counters(per_hour: int = 0) -> list[Counter]:
    return [Counter("mailbox", BOX, per_hour, 0), Counter("domain", "boulangerie.example", 0, 0)]


def detect(volume: int = 0, network: str = "", max_networks: int = 0) -> Detection:
    return Detection(BOX, volume, network, max_networks)


def send(redis, now: float, n: int = 1, **kwargs):
    per_hour = kwargs.pop("per_hour", 0)
    return admit(redis, counters(per_hour), recipients=n, now=now, detection=detect(**kwargs))


def test_it_holds_the_recipient_that_goes_over_the_volume_and_not_the_one_before(clean_redis):
    for n in range(50):
        assert send(clean_redis, T0 + n, volume=50) is None

    held = send(clean_redis, T0 + 60, volume=50)

    assert isinstance(held, Held)
    assert (held.reason, held.observed, held.threshold, held.new) == ("volume", 51, 50, True)
    stored = json.loads(clean_redis.hget(HOLDS_KEY, BOX))
    assert stored["t"] == held.entry["t"] and stored["why"] == "volume"
    assert stored["at"] == pytest.approx(T0 + 60)
    # Nothing counted for the held recipient.
    assert (
        usage(clean_redis, [key("mailbox", BOX)], now=T0 + 60)[key("mailbox", BOX)].last_hour == 50
    )
    assert held.reply(BOX) == (
        f"REJECT 5.7.1 L-HOLD <{BOX}>: sending held, suspected stolen password, "
        "change it in the panel"
    )


@pytest.mark.parametrize(("offset", "held"), [(-1, True), (0, False), (1, False)])
def test_the_volume_counts_the_hourly_window_by_the_minute(clean_redis, offset, held):
    assert send(clean_redis, T0 + 20, n=50, volume=50) is None  # in the minute 23:30

    # The minute 23:30 leaves the window at 00:31:00 on March 1st.
    result = send(clean_redis, T0 + 3660 + offset, volume=50)

    assert isinstance(result, Held) is held


def test_a_message_of_many_recipients_is_held_as_a_whole(clean_redis):
    assert send(clean_redis, T0, n=49, volume=50) is None

    held = send(clean_redis, T0 + 1, n=2, volume=50)

    assert (held.observed, held.threshold) == (51, 50)


def test_an_hourly_limit_under_the_volume_refuses_with_l_rate_and_never_holds(clean_redis):
    for n in range(20):
        assert send(clean_redis, T0 + n, volume=50, per_hour=20) is None

    result = send(clean_redis, T0 + 30, volume=50, per_hour=20)

    assert isinstance(result, Refusal) and result.window == "hour"
    assert not clean_redis.hexists(HOLDS_KEY, BOX)


def test_the_sixth_network_in_an_hour_holds_and_a_network_counts_once(clean_redis):
    for n in range(5):
        for seen in range(3):  # the same network again never counts twice
            assert (
                send(clean_redis, T0 + n * 10 + seen, network=f"198.51.{n}.0/24", max_networks=5)
                is None
            )

    held = send(clean_redis, T0 + 100, network="2001:db8:aa::/48", max_networks=5)

    assert (held.reason, held.observed, held.threshold) == ("networks", 6, 5)
    assert sorted(held.entry["nets"]) == sorted(
        [f"198.51.{n}.0/24" for n in range(5)] + ["2001:db8:aa::/48"]
    )


@pytest.mark.parametrize(("offset", "held"), [(-1, True), (0, False), (1, False)])
def test_a_network_last_seen_more_than_an_hour_ago_no_longer_counts(clean_redis, offset, held):
    send(clean_redis, T0 + 45, network="203.0.113.0/24", max_networks=2)  # minute 23:30
    send(clean_redis, T0 + 1800, network="198.51.100.0/24", max_networks=2)

    # The minute 23:30 leaves the hourly window at 00:31:00.
    result = send(clean_redis, T0 + 3660 + offset, network="192.0.2.0/24", max_networks=2)

    assert isinstance(result, Held) is held


def test_after_a_lift_only_what_came_after_counts(clean_redis):
    assert send(clean_redis, T0, n=50, volume=50, network="203.0.113.0/24", max_networks=1) is None
    assert isinstance(send(clean_redis, T0 + 1, network="198.51.100.0/24", max_networks=1), Held)
    # The password change (limits/state.hold_withdraw) clears the hold and sets the floor.
    clean_redis.hdel(HOLDS_KEY, BOX)
    clean_redis.set(key("lifted", BOX), repr(T0 + 2))

    result = send(clean_redis, T0 + 3, volume=50, network="198.51.100.0/24", max_networks=1)

    assert result is None


def test_a_second_connection_finds_the_hold_already_started(clean_redis):
    assert send(clean_redis, T0, n=50, volume=50) is None
    first = send(clean_redis, T0 + 1, volume=50)
    second = send(clean_redis, T0 + 2, volume=50)

    assert (first.new, second.new) == (True, False)
    assert json.loads(clean_redis.hget(HOLDS_KEY, BOX))["t"] == first.entry["t"]


def test_twenty_connections_at_once_start_one_hold(clean_redis):
    assert send(clean_redis, T0, n=45, volume=50) is None
    connections = [redis.Redis.from_url(settings.REDIS_URL) for _ in range(20)]

    results = run_concurrently(lambda i: send(connections[i], T0 + 10, volume=50), 20)

    assert results.count(None) == 5
    held = [r for r in results if isinstance(r, Held)]
    assert len(held) == 15 and sum(h.new for h in held) == 1
    assert (
        usage(clean_redis, [key("mailbox", BOX)], now=T0 + 60)[key("mailbox", BOX)].last_hour == 50
    )
