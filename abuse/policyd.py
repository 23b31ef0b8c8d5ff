"""The SMTP policy service: Postfix's policy delegation protocol over asyncio.

Postfix sends name=value lines ending with a blank line, per message, over long-lived
connections; we answer `action=...` and a blank line. Block state comes from the Redis
hash that the block services keep (abuse/blockstate.py); PostgreSQL is never on this path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import redis.asyncio as aioredis
from django.conf import settings

from abuse.blockstate import KEY, field

log = logging.getLogger(__name__)
# Postfix sends some 30 attributes, about 1 KiB; anything far bigger is not Postfix.
MAX_REQUEST = 64 * 1024


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


class BlockLookups:
    """Coalesces the lookups of every request that arrives in the same event-loop pass into
    one HMGET: a Redis round trip per request would cost more CPU than all the rest of the
    request (measured in bench/policyd.py). Every answer still reads Redis, never a copy."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.pending: list[tuple[list[str], asyncio.Future]] = []
        self.fetching: set[asyncio.Task] = set()  # the loop keeps only weak references

    async def get(self, fields: list[str]) -> list[bytes | None]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self.pending:
            # After the handlers already woken in this pass have added their own fields.
            loop.call_soon(self._flush)
        self.pending.append((fields, future))
        return await future

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        task = asyncio.ensure_future(self._fetch(batch))
        self.fetching.add(task)
        task.add_done_callback(self.fetching.discard)

    async def _fetch(self, batch: list[tuple[list[str], asyncio.Future]]) -> None:
        try:
            values = await self.redis.hmget(KEY, [f for fields, _ in batch for f in fields])
        except Exception as exc:  # each waiting request decides what an error means
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for fields, future in batch:
            if not future.done():
                future.set_result(values[start : start + len(fields)])
            start += len(fields)


class PolicyServer:
    def __init__(self, *, redis_url: str | None = None, fail_open: bool | None = None) -> None:
        self.redis = aioredis.Redis.from_url(
            redis_url or settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        self.lookups = BlockLookups(self.redis)
        self.fail_open = settings.POLICYD_FAIL_OPEN if fail_open is None else fail_open

    async def decide(self, attrs: dict[str, str]) -> str:
        sender = (attrs.get("sasl_username") or attrs.get("sender") or "").strip().lower()
        if "@" not in sender:
            return "DUNNO"
        domain = sender.rpartition("@")[2]
        try:
            stored = await self.lookups.get([field("address", sender), field("domain", domain)])
        except (aioredis.RedisError, OSError) as exc:
            log.error(
                "policyd: block state unreachable (%s); %s",
                exc,
                "letting mail through" if self.fail_open else "deferring",
            )
            return "DUNNO" if self.fail_open else "DEFER_IF_PERMIT 4.7.1 policy service unavailable"
        now = datetime.now(UTC)
        entries = [json.loads(v) for v in stored if v]
        for entry in sorted(entries, key=lambda e: -e.get("rank", 0)):
            action = reply(entry, sender, now)
            if action is not None:
                return action
        return "DUNNO"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    # One read per request: far cheaper than a readline per attribute.
                    request = await reader.readuntil(b"\n\n")
                except asyncio.LimitOverrunError:
                    log.warning("policyd: oversized request, closing the connection")
                    return
                attrs = dict(
                    line.partition("=")[::2]
                    for line in request.decode("utf-8", "replace").split("\n")
                    if line
                )
                action = await self.decide(attrs)
                writer.write(f"action={action}\n\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=MAX_REQUEST)
