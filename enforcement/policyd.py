"""The SMTP policy service: Postfix's policy delegation protocol over asyncio.

Postfix sends name=value lines ending with a blank line, per message, over long-lived
connections; we answer `action=...` and a blank line. Block state comes from the Redis
hash that the block services keep (enforcement/blockstate.py); PostgreSQL is never on this path.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import logging
import re
import resource
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from celery import current_app as app  # the project's app, whichever process runs it
from django.conf import settings

from enforcement.counters import hold_reply
from enforcement.decide import (
    DECIDE_KEYS,
    DecisionFailed,
    decide_args,
    decision,
)
from enforcement.scripts import DECIDE
from hosting.counters import KEY as METRICS_KEY
from hosting.counters import LATENCY_BUCKETS
from hosting.networks import IPNetwork, networks_of
from hosting.networks import client_network as network

RECORD_HOLD_TASK = "limits.tasks.record_hold"

log = logging.getLogger(__name__)
# Postfix sends some 30 attributes, about 1 KiB; anything far bigger is not Postfix.
MAX_REQUEST = 64 * 1024
# A blank line ends a request, whichever line ending the client uses.
REQUEST_END = re.compile(rb"\r?\n\r?\n")


def reply(entry: dict, sender: str, now: datetime) -> str | None:
    """The REJECT action for a stored block, None once a timed block has ended."""
    code = entry["code"]
    if entry.get("ends_at") is None:
        return (
            f"REJECT 5.7.1 {code} <{sender}>: sending suspended for mail abuse, "
            "see the Mail Abuse page"
        )
    ends = datetime.fromisoformat(entry["ends_at"])
    if ends <= now:
        return None
    return (
        f"REJECT 5.7.1 {code} <{sender}>: sending suspended until "
        f"{ends.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, change the password of this address"
    )


def answer_kind(action: str) -> str:
    """The metrics' label of an answer."""
    if action == "DUNNO":
        return "dunno"
    if action.startswith("DEFER"):
        return "unavailable"
    if action.startswith("450"):
        return "rate"
    if "L-HOLD" in action:
        return "hold"
    return "block" if action.startswith("REJECT") else "other"


class AnswerStats:
    """Answers and their latency since the last flush, added to the shared counters
    (hosting/counters.py) every few seconds in one pipeline, never a Redis call per answer."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.answers: Counter[str] = Counter()
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, action: str, seconds: float) -> None:
        self.answers[answer_kind(action)] += 1
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    async def flush(self, redis: aioredis.Redis) -> None:
        if not self.answers:
            return
        answers, buckets, total = self.answers, self.buckets, self.total
        self.reset()
        pipe = redis.pipeline(transaction=False)
        for kind, n in answers.items():
            pipe.hincrby(METRICS_KEY, f"policyd_answers:{kind}", n)
        for i, n in enumerate(buckets):
            if n:
                pipe.hincrby(METRICS_KEY, f"policyd_latency_bucket:{i}", n)
        pipe.hincrbyfloat(METRICS_KEY, "policyd_latency_sum", total)
        try:
            await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            log.warning("policyd: %d answers not counted in the metrics (%s)", answers.total(), exc)


class PassBatch:
    """Coalesces what every request of one event-loop pass asks Redis into one round trip:
    a round trip per request would cost more CPU than all the rest of the request
    (measured in bench/policyd.py). Every answer still reads Redis, never a copy; an error
    reaches each waiting request, which decides what it means."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.running: set[asyncio.Task] = set()  # the loop keeps only weak references

    async def ask(self, item: Any) -> Any:
        return await self.submit(item)

    def submit(self, item: Any) -> asyncio.Future:
        """The item added to this pass's batch: a future of its result."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self.pending:
            # After the handlers already woken in this pass have added their own items.
            loop.call_soon(self._flush)
        self.pending.append((item, future))
        return future

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        task = asyncio.ensure_future(self._answer(batch))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _answer(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await self.fetch([item for item, _ in batch])
        except Exception as exc:
            results, error = [None] * len(batch), exc
        else:
            error = None
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def fetch(self, items: list[Any]) -> list[Any]:
        raise NotImplementedError


class Decisions(PassBatch):
    """Each item a request's argument of the decision script (decide.py); one call answers
    the whole pass, each request atomically."""

    script: Any = None

    async def fetch(self, items: list[str]) -> list[list]:
        if self.script is None:
            # By its SHA1, loaded again by redis-py when Redis lost it (a restart).
            self.script = self.redis.register_script(DECIDE)
        return await self.script(keys=DECIDE_KEYS, args=items)


@dataclass(eq=False)
class Connection:
    writer: asyncio.StreamWriter
    idle_since: float
    busy: bool = False

    def close(self) -> None:
        self.writer.close()


def networks(values: list[str]) -> tuple[IPNetwork, ...]:
    """The allowlist setting as networks; a bad entry is a clear error at start."""
    return networks_of(values, "POLICYD_ALLOWED_NETWORKS")


def descriptor_headroom() -> int:
    """Connections this process can hold: its open-file limit less what it needs besides."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft - 64 if soft != resource.RLIM_INFINITY else 1 << 20


class PolicyServer:
    """Idle connections are closed after `idle_timeout` seconds (Postfix reconnects on its
    next request); at `max_connections`, the longest-idle one makes room for a new client,
    so a flood of idle sockets never locks Postfix out (it would then let mail through)."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        fail_open: bool | None = None,
        idle_timeout: float | None = None,
        max_connections: int | None = None,
        allowed_networks: list[str] | None = None,
    ) -> None:
        self.redis = aioredis.Redis.from_url(
            redis_url or settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        self.decisions = Decisions(self.redis)
        # Compromise detection's network prefixes, as the last decision reported them.
        self.prefixes = (24, 48)
        self.fail_open = settings.POLICYD_FAIL_OPEN if fail_open is None else fail_open
        self.idle_timeout = idle_timeout or settings.POLICYD_IDLE_TIMEOUT
        self.max_connections = min(
            max_connections or settings.POLICYD_MAX_CONNECTIONS, descriptor_headroom()
        )
        self.allowed = networks(
            settings.POLICYD_ALLOWED_NETWORKS if allowed_networks is None else allowed_networks
        )
        self.connections: dict[asyncio.StreamWriter, Connection] = {}
        self.closing = False
        self.server: asyncio.Server | None = None
        self.sweeper: asyncio.Task | None = None
        self.stats = AnswerStats()
        self.stats_flusher: asyncio.Task | None = None

    async def decide(self, attrs: dict[str, str]) -> str:
        login = (attrs.get("sasl_username") or "").strip().lower()
        sender = login or (attrs.get("sender") or "").strip().lower()
        if "@" not in sender:
            return "DUNNO"
        # Sending limits count authenticated recipients only: mail to the provider's own
        # customers from outside asks too, and is nobody's quota. A hold stops a login.
        count = bool(login) and attrs.get("protocol_state") == "RCPT"
        args = decide_args(
            sender=sender,
            login=bool(login),
            count=count,
            instance=attrs.get("instance", ""),
            network=network(attrs.get("client_address", "").strip(), *self.prefixes)
            if count
            else "",
        )
        try:
            found = decision(await self.decisions.ask(args))
        except (aioredis.RedisError, OSError, DecisionFailed) as exc:
            log.error(
                "policyd: block state unreachable (%s); %s",
                exc,
                "letting mail through" if self.fail_open else "deferring",
            )
            return "DUNNO" if self.fail_open else "DEFER_IF_PERMIT 4.7.1 policy service unavailable"
        if found.prefixes is not None:
            self.prefixes = found.prefixes
        if found.block is not None:
            return reply(found.block, sender, datetime.now(UTC)) or "DUNNO"
        if found.held is not None:
            if found.held.new:
                self._record_hold(sender, found.held.entry)
            return hold_reply(sender)
        if found.refusal is not None:
            return found.refusal.reply(sender)
        return "DUNNO"

    def _record_hold(self, sender: str, entry: dict) -> None:
        # The broker call blocks: off the event loop. If it fails, the sync job records it.
        def queue() -> None:
            try:
                app.send_task(RECORD_HOLD_TASK, args=[sender, entry])
            except Exception:
                log.exception("policyd: hold of %s not queued; the sync job records it", sender)

        log.warning("policyd: %s held (%s, %s)", sender, entry.get("why"), entry.get("n"))
        asyncio.get_running_loop().run_in_executor(None, queue)

    def _allowed(self, writer: asyncio.StreamWriter) -> bool:
        peer = writer.get_extra_info("peername")
        try:
            address = ipaddress.ip_address(peer[0]) if peer else None
        except ValueError:
            address = None
        if address is not None and address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address is not None and any(address in net for net in self.allowed):
            return True
        log.warning("policyd: refused a connection from %s (not in POLICYD_ALLOWED_NETWORKS)", peer)
        return False

    def _make_room(self) -> None:
        idle = [c for c in self.connections.values() if not c.busy]
        if idle:
            oldest = min(idle, key=lambda c: c.idle_since)
            log.warning(
                "policyd: %d connections, the limit: closing the longest idle one",
                len(self.connections),
            )
            oldest.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A connection accepted while stopping is still served: its client may have asked
        # before the stop, and shutdown() closes it if it stays silent through the grace.
        if not self._allowed(writer):
            writer.close()
            return
        loop = asyncio.get_running_loop()
        if len(self.connections) >= self.max_connections:
            self._make_room()
        conn = self.connections[writer] = Connection(writer, loop.time())
        buffer = bytearray()
        try:
            while True:
                # Requests are framed here rather than by readuntil(b"\n\n"), which never
                # ends a request whose lines end in CRLF: such a client waited for the idle
                # timeout. LF is Postfix's; CRLF (or a mix) is answered the same way.
                end = REQUEST_END.search(buffer)
                if (end.start() if end else len(buffer)) > MAX_REQUEST:
                    log.warning("policyd: oversized request, closing the connection")
                    return
                if end is None:
                    data = await reader.read(MAX_REQUEST)
                    if not data:
                        return
                    buffer += data
                    continue
                request = bytes(buffer[: end.start()])
                newline = "\r\n" if b"\r" in end.group() else "\n"
                del buffer[: end.end()]
                conn.busy = True
                asked = loop.time()
                attrs = dict(
                    line.rstrip("\r").partition("=")[::2]
                    for line in request.decode("utf-8", "replace").split("\n")
                    if line.strip("\r")
                )
                action = await self.decide(attrs)
                writer.write(f"action={action}{newline}{newline}".encode())
                self.stats.observe(action, loop.time() - asked)
                await writer.drain()
                conn.busy = False
                conn.idle_since = loop.time()
                if self.closing:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.connections.pop(writer, None)
            writer.close()

    async def _sweep(self, every: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            deadline = loop.time() - self.idle_timeout
            for conn in list(self.connections.values()):
                if not conn.busy and conn.idle_since < deadline:
                    conn.close()

    async def _flush_stats(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.stats.flush(self.redis)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        self.server = await asyncio.start_server(self.handle, host, port, limit=MAX_REQUEST)
        self.sweeper = asyncio.ensure_future(self._sweep(min(5.0, self.idle_timeout / 2)))
        self.stats_flusher = asyncio.ensure_future(
            self._flush_stats(settings.POLICYD_STATS_SECONDS)
        )
        return self.server

    async def shutdown(self, *, grace: float = 0.5, timeout: float = 10.0) -> None:
        """Answer what was already asked, stop taking connections, then close everything."""
        self.closing = True
        # Through the grace period the listening socket stays open: a connection the kernel
        # already completed (in the accept backlog) is accepted and its request answered
        # instead of being reset when the socket closes. Each connection is closed after
        # its next answer.
        await asyncio.sleep(grace)
        if self.server is not None:
            self.server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connections and loop.time() < deadline:
            # Silent for the whole grace period: nothing was asked (one accepted late in
            # the grace period gets its own).
            silent_since = loop.time() - grace
            for conn in list(self.connections.values()):
                if not conn.busy and conn.idle_since <= silent_since:
                    conn.close()
            await asyncio.sleep(0.05)
        if self.sweeper is not None:
            self.sweeper.cancel()
        if self.stats_flusher is not None:
            self.stats_flusher.cancel()
        await self.stats.flush(self.redis)
        await self.redis.aclose()
