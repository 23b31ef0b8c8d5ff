"""The pipeline's health as the dashboard shows it: the ingest backlog and rate, whether
Rspamd and the policy service answer, and whether the block state the mail servers read
in Redis says what PostgreSQL says."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from django.conf import settings
from django.db.models import Count, Min
from redis import RedisError

from abuse.models import Block
from enforcement.blockstate import KEY, REBUILT_KEY
from enforcement.blockstate import field as state_field
from hosting.counters import per_minute
from hosting.redis import client as redis_client
from tracking.models import IngestEvent

PROBE = (
    b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
    b"client_address=127.0.0.1\nsender=\nrecipient=probe@lwsmail.invalid\n\n"
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Backlog:
    pending: int
    parked: int
    oldest_seconds: float  # the oldest waiting event's age, 0 when none waits


def _stream_backlog(redis) -> tuple[int, datetime | None]:
    # The messages Rspamd appended to the ingest stream (ingest/stream.py) not yet
    # recorded, and when the oldest was added: an entry's id is its time in milliseconds.
    waiting = int(redis.xlen(settings.INGEST_STREAM))
    first = redis.xrange(settings.INGEST_STREAM, count=1) if waiting else []
    added = int(first[0][0].split(b"-", 1)[0]) / 1000 if first else None
    return waiting, (datetime.fromtimestamp(added, UTC) if added is not None else None)


def ingest_backlog(*, now: datetime) -> Backlog:
    """The ingest events waiting for a worker or in the Redis stream, the oldest's age,
    and those parked for staff."""
    pending = IngestEvent.objects.pending().aggregate(n=Count("id"), oldest=Min("received_at"))
    waiting, oldest = pending["n"], pending["oldest"]
    try:
        in_stream, oldest_in_stream = _stream_backlog(redis_client())
    except RedisError:
        in_stream, oldest_in_stream = 0, None  # the Redis check says why
    waiting += in_stream
    oldest = min(filter(None, (oldest, oldest_in_stream)), default=None)
    return Backlog(
        waiting,
        IngestEvent.objects.parked().count(),
        max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
    )


@dataclass
class Health:
    backlog: Backlog
    per_minute: float | None = None  # None: Redis unreadable
    checks: list[Check] = field(default_factory=list)


def _rspamd() -> Check:
    started = time.perf_counter()
    try:
        answer = httpx.get(f"{settings.RSPAMD_URL.rstrip('/')}/ping", timeout=2.0)
    except httpx.HTTPError as exc:
        return Check("Rspamd", False, f"{settings.RSPAMD_URL}: {type(exc).__name__}")
    took = (time.perf_counter() - started) * 1000
    if answer.status_code != 200 or not answer.text.startswith("pong"):
        return Check("Rspamd", False, f"{settings.RSPAMD_URL}: HTTP {answer.status_code}")
    return Check("Rspamd", True, f"{settings.RSPAMD_URL} answered in {took:.0f} ms")


def _policyd(address: str) -> Check:
    name = f"Policy service {address}"
    host, _, port = address.rpartition(":")
    started = time.perf_counter()
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2.0) as sock:
            sock.settimeout(2.0)
            sock.sendall(PROBE)
            answer = b""
            while b"\n\n" not in answer and len(answer) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except (OSError, ValueError) as exc:
        return Check(name, False, f"no answer: {type(exc).__name__}: {exc}")
    took = (time.perf_counter() - started) * 1000
    if not answer.startswith(b"action="):
        return Check(name, False, "answered something other than an action")
    action = answer.split(b"\n")[0].decode(errors="replace")
    return Check(name, True, f"answered {action} in {took:.0f} ms")


def _blockstate(redis) -> Check:
    standing = {
        state_field(s, t) for s, t in Block.objects.unlifted().values_list("scope", "target")
    }
    try:
        stored = {k.decode() for k in redis.hkeys(KEY)}
        rebuilt = redis.get(REBUILT_KEY)
    except RedisError as exc:
        return Check("Block state in Redis", False, f"unreadable: {exc}")
    missing, extra = standing - stored, stored - standing
    when = (
        f"{datetime.fromtimestamp(float(rebuilt), UTC):%Y-%m-%d %H:%M:%S} UTC"
        if rebuilt
        else "never"
    )
    detail = (
        f"{len(stored)} in Redis, {len(standing)} standing in PostgreSQL; "
        f"{len(missing)} missing from Redis, {len(extra)} no longer standing; last rebuild {when}"
    )
    return Check("Block state in Redis", not missing and not extra, detail)


def pipeline_health(*, redis, now: datetime) -> Health:
    """Every check, each failing on its own (one unreachable service never hides the others)."""
    health = Health(ingest_backlog(now=now))
    try:
        health.per_minute = per_minute(redis, "ingest_recorded", minutes=5)
    except RedisError:
        health.per_minute = None
    # The network checks at once: each may wait its 2 s timeout on a host that drops packets.
    with ThreadPoolExecutor(max_workers=1 + len(settings.POLICYD_PROBE_ADDRESSES)) as pool:
        probes = [pool.submit(_rspamd)]
        probes += [pool.submit(_policyd, a) for a in settings.POLICYD_PROBE_ADDRESSES]
        health.checks += [p.result() for p in probes]
    health.checks.append(_blockstate(redis))
    return health
