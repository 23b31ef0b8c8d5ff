"""Block state in Redis, the copy the SMTP policy service reads for every message.

One hash: field "address:<address>" or "domain:<name>", value JSON {id, code, rank, ends_at}.
PostgreSQL is the truth; services update the hash after their transaction commits, and
`blockstate_rebuild` (command and beat job) rewrites it atomically for recovery.
"""

from __future__ import annotations

import functools
import json
import logging

import redis
from django.conf import settings
from django.db import transaction

from abuse.models import Block

log = logging.getLogger(__name__)
KEY = "lwsmail:blocks"

# Delete the field only if it still holds this block: an older block's lift must never
# remove the newer block that replaced it.
_CLEAR_IF_SAME = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v)['id'] == tonumber(ARGV[2]) then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def field(scope: str, target: str) -> str:
    return f"{scope}:{target.lower()}"


def value(block: Block) -> str:
    ends = block.ends_at.isoformat() if block.ends_at else None
    return json.dumps({"id": block.pk, "code": block.code, "rank": block.rank, "ends_at": ends})


def _apply(action, what: str) -> None:
    if not settings.POLICY_BLOCKSTATE_ENABLED:
        return
    try:
        action()
    except redis.RedisError:
        # PostgreSQL has it; the next rebuild (beat, or `manage.py blockstate_rebuild`) too.
        log.exception("block state in Redis not updated (%s); a rebuild will", what)


def blockstate_publish(*, block: Block) -> None:
    """After commit, make the policy service refuse the block's target."""
    transaction.on_commit(
        lambda: _apply(
            lambda: client().hset(KEY, field(block.scope, block.target), value(block)),
            f"set {block.code} {block.target}",
        )
    )


def blockstate_withdraw(*, blocks: list[Block]) -> None:
    """After commit, let the policy service accept these blocks' targets again."""

    def clear() -> None:
        script = client().register_script(_CLEAR_IF_SAME)
        for block in blocks:
            script(keys=[KEY], args=[field(block.scope, block.target), block.pk])

    if blocks:
        transaction.on_commit(lambda: _apply(clear, f"clear {len(blocks)} block(s)"))


def blockstate_rebuild() -> int:
    """Rewrite the hash from PostgreSQL's standing blocks in one atomic swap."""
    mapping = {field(b.scope, b.target): value(b) for b in Block.objects.unlifted()}
    tmp = f"{KEY}:rebuild"
    pipe = client().pipeline(transaction=True)
    pipe.delete(tmp)
    if mapping:
        pipe.hset(tmp, mapping=mapping)
        pipe.rename(tmp, KEY)
    else:
        pipe.delete(KEY)
    pipe.execute()
    return len(mapping)
