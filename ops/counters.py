"""Event counters every process adds to (ingest workers, webhook workers, the policy
service), kept in one Redis hash so that the panel's /metrics endpoint reports the whole
service whichever host it runs on. HINCRBY is atomic; a counter that Redis lost starts
again from zero, which Prometheus reads as a counter reset."""

from __future__ import annotations

import logging

from redis import RedisError

from abuse.enforcement.blockstate import client

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
