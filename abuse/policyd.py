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
MAX_LINE = 4096
MAX_ATTRIBUTES = 100


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


class PolicyServer:
    def __init__(self, *, redis_url: str | None = None, fail_open: bool | None = None) -> None:
        self.redis = aioredis.Redis.from_url(
            redis_url or settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        self.fail_open = settings.POLICYD_FAIL_OPEN if fail_open is None else fail_open

    async def decide(self, attrs: dict[str, str]) -> str:
        sender = (attrs.get("sasl_username") or attrs.get("sender") or "").strip().lower()
        if "@" not in sender:
            return "DUNNO"
        domain = sender.rpartition("@")[2]
        try:
            stored = await self.redis.hmget(
                KEY, [field("address", sender), field("domain", domain)]
            )
        except aioredis.RedisError as exc:
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
                attrs: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    if len(line) > MAX_LINE or len(attrs) > MAX_ATTRIBUTES:
                        log.warning("policyd: oversized request, closing the connection")
                        return
                    text = line.decode("utf-8", "replace").rstrip("\r\n")
                    if not text:
                        break
                    name, _, value = text.partition("=")
                    attrs[name] = value
                action = await self.decide(attrs)
                writer.write(f"action={action}\n\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=MAX_LINE * 2)
