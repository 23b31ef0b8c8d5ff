"""Event counters every process adds to (ingest workers, webhook workers, the policy
service), kept in one Redis hash so that the panel's /metrics endpoint reports the whole
service whichever host it runs on. HINCRBY is atomic; a counter that Redis lost starts
again from zero, which Prometheus reads as a counter reset."""

from __future__ import annotations

import logging
import time

from redis import RedisError

from hosting.durations import HOUR
from hosting.redis import client

log = logging.getLogger(__name__)

KEY = "lwsmail:metrics"
# The policy service's answer latency (seconds): each bucket counts answers up to its bound
# and above the previous one; the collector makes them cumulative as Prometheus wants.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def count(field: str, n: int = 1) -> None:
    """Add `n` to a counter; a Redis outage loses the count, never the work counted."""
    try:
        client().hincrby(KEY, field, n)
    except RedisError as exc:
        log.warning("metrics: %s not counted (%s)", field, exc)


def read(redis) -> dict[str, float]:
    return {k.decode(): float(v) for k, v in redis.hgetall(KEY).items()}


def _minute_key(name: str, minute: int) -> str:
    return f"{KEY}:{name}:{minute}"


def count_minute(name: str, n: int, *, now: float | None = None) -> None:
    """Add `n` to this minute's count of `name` (kept an hour): what rates are read from."""
    minute = int((time.time() if now is None else now) // 60)
    try:
        pipe = client().pipeline(transaction=False)
        pipe.incrby(_minute_key(name, minute), n)
        pipe.expire(_minute_key(name, minute), HOUR)
        pipe.execute()
    except RedisError as exc:
        log.warning("metrics: %s per minute not counted (%s)", name, exc)


def per_minute(redis, name: str, *, minutes: int, now: float | None = None) -> float:
    """The mean per minute of `name` over the last `minutes` whole minutes."""
    this = int((time.time() if now is None else now) // 60)
    values = redis.mget([_minute_key(name, m) for m in range(this - minutes, this)])
    return sum(int(v) for v in values if v is not None) / minutes
