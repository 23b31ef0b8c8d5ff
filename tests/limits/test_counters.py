"""The recipient counters in a real Redis, at the edges of their limits and windows."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from enforcement.counters import REFUSED_KEY, Counter, admit, key, usage

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
    assert refused.resumes_at == datetime.fromtimestamp(T0 + 3600, UTC)
    assert refused.reply(BOX) == (
        f"450 4.7.1 L-RATE <{BOX}>: hourly limit of 5 recipients reached, "
        "sending resumes at 2026-03-02 10:00:00 UTC"
    )
    assert (
        usage(clean_redis, [key("mailbox", BOX)], now=T0 + 10)[key("mailbox", BOX)].last_hour == 5
    )


@pytest.mark.parametrize(("offset", "admitted"), [(-1, False), (0, True), (1, True)])
def test_the_hour_slides_to_the_second(clean_redis, offset, admitted):
    counters = [box(per_hour=3)]
    for n in range(3):
        assert admit(clean_redis, counters, now=T0 + n) is None

    # The first recipient (T0) leaves the window at T0 + 1 h exactly.
    result = admit(clean_redis, counters, now=T0 + 3600 + offset)

    assert (result is None) is admitted


@pytest.mark.parametrize(("offset", "admitted"), [(-1, False), (1, True)])
def test_the_day_slides_to_the_second(clean_redis, offset, admitted):
    counters = [box(per_day=4)]
    for n in range(4):
        assert admit(clean_redis, counters, now=T0 + n * 7200) is None

    result = admit(clean_redis, counters, now=T0 + 86400 + offset)

    assert (result is None) is admitted
    if not admitted:
        assert result.window == "day" and result.resumes_at.timestamp() == T0 + 86400


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
