"""Block state in Redis, the copy the SMTP policy service and Rspamd read for every message.

Two hashes, always changed together (one MULTI or one script):
- KEY, for policyd: field "address:<address>" or "domain:<name>", value JSON
  {id, code, rank, ends_at, e: ends_at in seconds};
- RSPAMD_KEY, for Rspamd's multimap (deploy/rspamd/local.d/multimap.conf, `HGET key
  <address or domain>`): field the bare address or domain, value the code ("L-SPAM20"),
  with the end of a timed block ("L-SPAM00 until 2026-11-29 10:20:00 UTC"), which
  multimap shows as the symbol's option and puts in its SMTP reply.
PostgreSQL is the truth; services update the hashes after their transaction commits, and
`blockstate_rebuild` (command and beat job) rewrites both atomically for recovery.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

import redis
from django.conf import settings
from django.db import transaction

from enforcement.scripts import CLEAR_IF_SAME
from hosting.redis import client


class BlockLike(Protocol):
    """What the projection needs of a block (abuse's Block is one): it knows no model."""

    pk: int
    scope: str
    target: str
    code: str
    rank: int
    ends_at: datetime | None


log = logging.getLogger(__name__)
KEY = "lwsmail:blocks"
RSPAMD_KEY = "lwsmail:rspamd:blocked"
# When blockstate_rebuild last rewrote both hashes (seconds since the epoch).
REBUILT_KEY = "lwsmail:blocks:rebuilt"


def field(scope: str, target: str) -> str:
    return f"{scope}:{target.lower()}"


def value(block: BlockLike) -> str:
    ends = block.ends_at.isoformat() if block.ends_at else None
    # "e", the end in seconds, is what the policy service's script compares with now.
    epoch = block.ends_at.timestamp() if block.ends_at else None
    return json.dumps(
        {"id": block.pk, "code": block.code, "rank": block.rank, "ends_at": ends, "e": epoch}
    )


def rspamd_value(block: BlockLike) -> str:
    """What Rspamd's map holds: the code, and the end of a timed block for its reply."""
    if block.ends_at is None:
        return block.code
    return f"{block.code} until {block.ends_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def redis_apply(action, what: str) -> None:
    """Run a Redis update of what PostgreSQL holds; if Redis fails, log it: the next
    rebuild (beat job, or its management command) writes it anyway."""
    if not settings.POLICY_BLOCKSTATE_ENABLED:
        return
    try:
        action()
    except redis.RedisError:
        log.exception("Redis not updated (%s); the next rebuild will", what)


def blockstate_publish(*, block: BlockLike) -> None:
    """After commit, make the policy service refuse the block's target."""

    def publish() -> None:
        pipe = client().pipeline(transaction=True)
        pipe.hset(KEY, field(block.scope, block.target), value(block))
        pipe.hset(RSPAMD_KEY, block.target.lower(), rspamd_value(block))
        pipe.execute()

    transaction.on_commit(lambda: redis_apply(publish, f"set {block.code} {block.target}"))


def blockstate_withdraw(*, blocks: list[BlockLike]) -> None:
    """After commit, let the policy service accept these blocks' targets again."""

    def clear() -> None:
        script = client().register_script(CLEAR_IF_SAME)  # lua/clear_if_same.lua
        for block in blocks:
            target = block.target.lower()
            script(keys=[KEY, RSPAMD_KEY], args=[field(block.scope, target), block.pk, target])

    if blocks:
        transaction.on_commit(lambda: redis_apply(clear, f"clear {len(blocks)} block(s)"))


def blockstate_replace(*, blocks: Iterable[BlockLike]) -> int:
    """Rewrite both hashes with these standing blocks in one atomic swap (the rules'
    rebuild hands them over from PostgreSQL); returns how many."""
    blocks = list(blocks)
    hashes = {
        KEY: {field(b.scope, b.target): value(b) for b in blocks},
        RSPAMD_KEY: {b.target.lower(): rspamd_value(b) for b in blocks},
    }
    pipe = client().pipeline(transaction=True)
    pipe.set(REBUILT_KEY, repr(time.time()))
    for key, mapping in hashes.items():
        tmp = f"{key}:rebuild"
        pipe.delete(tmp)
        if mapping:
            pipe.hset(tmp, mapping=mapping)
            pipe.rename(tmp, key)
        else:
            pipe.delete(key)
    pipe.execute()
    return len(blocks)
