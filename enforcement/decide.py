"""The policy service's decisions in Redis: one script that, for each request, finds the
sender's standing block and compromise hold and, for an authenticated recipient, counts it
against the published limits and checks for a stolen password, each request atomically.

One call answers every request of an event-loop pass, each request one argument (its
fields joined by newlines, which Postfix's line-based protocol never puts in a value):
packing a command's arguments costs redis-py more CPU than all the rest of a request
(measured in bench/policyd.py, which went from two calls per request with some twenty
arguments to this)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from enforcement.blockstate import KEY
from enforcement.counters import (
    HOLDS_KEY,
    LIMITS_KEY,
    Counter,
    Held,
    Refusal,
    refusal,
)

# The script, lua/decide.lua (after lua/admit_function.lua), in enforcement/scripts.py:
# KEYS: the blocks hash, the holds hash, the limits hash (limits/state.py).
# ARGV: one per request, its fields joined by newlines: sender, its domain, '1' if it
#       logged in, '1' to count a recipient, the message's instance, the client's network
#       ('' : none), now, a unique member prefix.
# Returns one answer per request: {'block', its JSON} | {'hold'} | {'pass'} | {'admit',
# IPv4 prefix, IPv6 prefix, then what admit returned, and for a refusal by a counter its
# kind and target} | {'error', the message} (that request alone failed).
DECIDE_KEYS = (KEY, HOLDS_KEY, LIMITS_KEY)


class DecisionFailed(Exception):
    """The script could not decide this one request (a malformed entry in Redis)."""


def decide_args(*, sender: str, login: bool, count: bool, instance: str, network: str) -> str:
    """The request's one argument of the script."""
    return "\n".join(
        (
            sender,
            sender.rpartition("@")[2],
            "1" if login else "0",
            "1" if count else "0",
            instance,
            network,
            repr(time.time()),
            os.urandom(6).hex(),  # 48 random bits tell one counter's members apart
        )
    )


@dataclass(frozen=True)
class Decision:
    """What the script found: a block (its stored JSON), a hold, a refusal, or nothing."""

    block: dict | None = None
    held: Held | None = None
    refusal: Refusal | None = None
    prefixes: tuple[int, int] | None = None


def decision(result: list) -> Decision:
    kind = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
    if kind == "error":
        raise DecisionFailed(str(result[1]))
    if kind == "block":
        return Decision(block=json.loads(result[1]))
    if kind == "hold":  # held before this request: nothing new to record
        return Decision(held=Held("", 0, 0, False, {}))
    if kind == "pass":
        return Decision()
    prefixes = (int(result[1]), int(result[2]))
    outcome = result[3:]
    index = int(outcome[0])
    # A refusal by a counter ends with that counter's kind and target.
    by_index = (
        {index - 1: Counter(outcome[4].decode(), outcome[5].decode(), 0, 0)} if index > 0 else {}
    )
    found = refusal(outcome, by_index)
    if isinstance(found, Held):
        return Decision(held=found, prefixes=prefixes)
    return Decision(refusal=found, prefixes=prefixes)
