"""The recipient counters in a real Redis, at the edges of their limits and windows."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from enforcement.counters import REFUSED_KEY, Counter, admit, key, usage, window_counts

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC).timestamp()
BOX = "contact@boulangerie.example"


def box(per_hour: int = 0, per_day: int = 0) -> Counter:
    return Counter("mailbox", BOX, per_hour, per_day)


def test_it_admits_up_to_the_hourly_limit_and_refuses_the_next_one(clean_redis):
    counters = [box(per_hour=5)]
    for n in range(5):
        assert admit(clean_redis, counters, now=T0 + n) is None

    refused = admit(clean_redis, counters, now=T0 + 10)

    assert (refused.window, refused.limit) == ("hour", 5)
    # Sent in the minute 09:00, they count until an hour after its end.
    assert refused.resumes_at == datetime.fromtimestamp(T0 + 3660, UTC)
    assert refused.reply(BOX) == (
        f"450 4.7.1 L-RATE <{BOX}>: hourly limit of 5 recipients reached, "
        "sending resumes at 2026-03-02 10:01:00 UTC"
    )
    assert (
        usage(clean_redis, [key("mailbox", BOX)], now=T0 + 10)[key("mailbox", BOX)].last_hour == 5
    )


@pytest.mark.parametrize(("offset", "admitted"), [(-1, False), (0, True), (1, True)])
def test_the_hour_slides_by_the_minute(clean_redis, offset, admitted):
    counters = [box(per_hour=3)]
    for n in range(3):
        assert admit(clean_redis, counters, now=T0 + 30 + n * 10) is None  # 09:00:30 to :50

    # The minute 09:00 leaves the window at 10:01:00, an hour after its end.
    result = admit(clean_redis, counters, now=T0 + 3660 + offset)

    assert (result is None) is admitted
    if not admitted:
        assert result.resumes_at.timestamp() == T0 + 3660


@pytest.mark.parametrize(("offset", "admitted"), [(-1, False), (0, True), (1, True)])
def test_the_day_slides_by_the_hour_across_the_year_end(clean_redis, offset, admitted):
    start = datetime(2026, 12, 31, 9, 0, 0, tzinfo=UTC).timestamp()
    counters = [box(per_day=4)]
    for n in range(4):
        assert admit(clean_redis, counters, now=start + 1800 + n * 7200) is None

    # The hour 09:00 leaves the daily window at 10:00 the next day (a day after its end).
    result = admit(clean_redis, counters, now=start + 90000 + offset)

    assert (result is None) is admitted
    if not admitted:
        assert result.window == "day" and result.resumes_at.timestamp() == start + 90000


def test_a_counter_grows_with_the_minutes_its_sender_sent_in_not_with_recipients(
    clean_redis,
):
    for n in range(1000):
        assert admit(clean_redis, [box(per_hour=5000)], now=T0 + n * 0.05) is None

    def buckets() -> int:
        return sum(1 for f in clean_redis.hkeys(box().key) if f.lstrip(b"-").isdigit())

    assert buckets() == 2  # the minute 09:00 and the hour 09:00
    assert 89_000 < clean_redis.ttl(box().key) <= 90001
    for n in range(100):  # one a minute for 100 minutes: the oldest minutes go
        assert admit(clean_redis, [box(per_hour=5000)], now=T0 + n * 60) is None
    assert buckets() == 61 + 2
    assert clean_redis.hlen(box().key) <= 61 + 2 + 4  # and the windows' sums
    use = usage(clean_redis, [box().key], now=T0 + 99 * 60)[box().key]
    assert (use.last_hour, use.last_day) == (61, 1100)


def test_a_refused_recipient_is_not_counted_anywhere(clean_redis):
    domain = Counter("domain", "boulangerie.example", 100, 0)
    counters = [box(per_hour=1), domain]
    assert admit(clean_redis, counters, now=T0) is None

    assert admit(clean_redis, counters, now=T0 + 1) is not None

    use = usage(clean_redis, [c.key for c in counters], now=T0 + 2)
    assert [u.last_hour for u in use.values()] == [1, 1]
    assert clean_redis.zscore(REFUSED_KEY, box().key) == T0 + 1


def test_the_domain_limit_holds_across_its_mailboxes(clean_redis):
    def counters(address: str) -> list[Counter]:
        return [Counter("mailbox", address, 0, 0), Counter("domain", "shop.example", 3, 0)]

    for n, address in enumerate(["a@shop.example", "b@shop.example", "c@shop.example"]):
        assert admit(clean_redis, counters(address), now=T0 + n) is None

    refused = admit(clean_redis, counters("d@shop.example"), now=T0 + 5)

    assert refused.counter.kind == "domain"
    assert "hourly limit of 3 recipients of the domain shop.example reached" in refused.text(
        "d@shop.example"
    )


def test_the_per_message_limit_counts_the_recipients_of_one_message(clean_redis):
    for _ in range(3):
        assert admit(clean_redis, [box()], message="A1", per_message=3, now=T0) is None

    refused = admit(clean_redis, [box()], message="A1", per_message=3, now=T0)

    assert refused.text(BOX) == f"L-RATE <{BOX}>: at most 3 recipients per message"
    assert admit(clean_redis, [box()], message="B2", per_message=3, now=T0) is None


def test_many_recipients_at_once_are_all_or_nothing(clean_redis):
    assert admit(clean_redis, [box(per_hour=10)], recipients=8, now=T0) is None

    assert admit(clean_redis, [box(per_hour=10)], recipients=3, now=T0 + 1) is not None
    assert admit(clean_redis, [box(per_hour=10)], recipients=2, now=T0 + 2) is None


def test_forty_threads_never_take_one_recipient_over_the_limit(clean_redis):
    import redis
    from django.conf import settings

    counters = [box(per_hour=25)]
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(40)

    def send() -> None:
        connection = redis.Redis.from_url(settings.REDIS_URL)
        start.wait()
        for _ in range(5):
            ok = admit(connection, counters) is None
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=send) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert len(results) == 200 and results.count(True) == 25


def test_a_counter_of_the_earlier_release_is_converted_the_first_time_it_counts(clean_redis):
    # One member per recipient, scored in milliseconds: 3 in the minute 09:00, 1 at 08:30.
    members = {f"m{n}": (T0 + n) * 1000 for n in range(3)} | {"old": (T0 - 1800) * 1000}
    clean_redis.zadd(box().key, members)
    assert usage(clean_redis, [box().key], now=T0 + 5)[box().key].last_hour is None

    assert admit(clean_redis, [box(per_hour=5)], now=T0 + 5) is None
    refused = admit(clean_redis, [box(per_hour=5)], now=T0 + 6)

    assert refused is not None and refused.window == "hour"
    # The earliest, 08:30, frees its place at 09:31.
    assert refused.resumes_at.timestamp() == T0 + 1860
    use = usage(clean_redis, [box().key], now=T0 + 6)[box().key]
    assert (use.last_hour, use.last_day) == (5, 5)
    assert 0 < clean_redis.ttl(box().key) <= 90001  # it goes once its last hour has


def test_a_busy_counter_kept_by_its_sums_agrees_with_its_buckets_at_every_minute(clean_redis):
    domain = Counter("domain", "shop.example", 10_000, 100_000)
    rng = __import__("random").Random(29)
    now = T0
    for _ in range(3000):  # two days of sending at random gaps, across hours and days
        now += rng.choice([1, 7, 30, 61, 600, 3700])
        assert admit(clean_redis, [domain], recipients=rng.randint(1, 3), now=now) is None
        stored = clean_redis.hgetall(domain.key)
        assert (int(stored[b"h"]), int(stored[b"d"])) == window_counts(stored, now)
