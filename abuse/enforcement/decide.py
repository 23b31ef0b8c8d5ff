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
import socket
import time
from dataclasses import dataclass

from abuse.enforcement.blockstate import KEY
from limits.counters import (
    ADMIT_FUNCTION,
    HOLDS_KEY,
    PREFIX,
    REFUSED_KEY,
    Counter,
    Held,
    Refusal,
    refusal,
)
from limits.state import LIMITS_KEY

# KEYS: the blocks hash, the holds hash, the limits hash (limits/state.py).
# ARGV: one per request, its fields joined by newlines: sender, its domain, '1' if it
#       logged in, '1' to count a recipient, the message's instance, the client's network
#       ('' : none), now, a unique member prefix.
# Returns one answer per request: {'block', its JSON} | {'hold'} | {'pass'} | {'admit',
# IPv4 prefix, IPv6 prefix, then what admit returned, and for a refusal by a counter its
# kind and target} | {'error', the message} (that request alone failed).
DECIDE = (
    ADMIT_FUNCTION
    + f"""
local PREFIX, REFUSED = '{PREFIX}', '{REFUSED_KEY}'
local function decide(ARGV)
local sender, domain, now = ARGV[1], ARGV[2], tonumber(ARGV[7])
local best, best_rank = nil, -1
for _, v in ipairs(redis.call('HMGET', KEYS[1], 'address:' .. sender, 'domain:' .. domain)) do
  if v then
    local b = cjson.decode(v)
    local rank = tonumber(b['rank']) or 0
    -- A timed block whose end has passed no longer stops anything (the lift job removes it).
    if (type(b['e']) ~= 'number' or b['e'] > now) and rank > best_rank then
      best, best_rank = v, rank
    end
  end
end
if best then return {{'block', best}} end
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[2], sender) == 1 then return {{'hold'}} end
if ARGV[4] ~= '1' then return {{'pass'}} end
local found = redis.call('HMGET', KEYS[3], 'mailbox:' .. sender, 'default')
if not found[2] then return {{'pass'}} end  -- limits never published: nothing to count
local default = cjson.decode(found[2])
local entry = found[1] and cjson.decode(found[1])
local own = entry or default
local counters
if entry then
  counters = {{{{'mailbox', sender, entry.m}}, {{'domain', entry.d, entry.dl}},
    {{'hosting', tostring(entry.h), entry.hl}}}}
else  -- a mailbox not published yet: the server default on it and its domain
  counters = {{{{'mailbox', sender, default.m}}, {{'domain', domain, default.dl}}}}
end
local instance = ARGV[5]
local per_message = instance ~= '' and (tonumber(own.pm) or 0) or 0
local keys, argv = {{}}, {{ARGV[7], ARGV[8], 1, per_message, #counters}}
for i, c in ipairs(counters) do
  keys[i] = PREFIX .. c[1] .. ':' .. string.lower(c[2])
  argv[#argv + 1] = c[3][1]
  argv[#argv + 1] = c[3][2]
end
keys[#keys + 1] = PREFIX .. 'message:' .. (instance ~= '' and instance or 'none')
keys[#keys + 1] = REFUSED
local volume, max_nets, net = tonumber(own.hv) or 0, tonumber(default.hn) or 0, ARGV[6]
if volume > 0 or (net ~= '' and max_nets > 0) then
  keys[#keys + 1] = PREFIX .. 'nets:' .. sender
  keys[#keys + 1] = KEYS[2]
  keys[#keys + 1] = PREFIX .. 'lifted:' .. sender
  for _, a in ipairs({{volume, net, max_nets, sender}}) do argv[#argv + 1] = a end
end
local result = admit(keys, argv)
local answer = {{'admit', tonumber(default.p4) or 24, tonumber(default.p6) or 48}}
for _, r in ipairs(result) do answer[#answer + 1] = r end
if result[1] > 0 then
  answer[#answer + 1] = counters[result[1]][1]
  answer[#answer + 1] = counters[result[1]][2]
end
return answer
end
local function fields(s)
  local out, start = {{}}, 1
  while true do
    local i = string.find(s, '\\n', start, true)
    if not i then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end
local answers = {{}}
for i = 1, #ARGV do
  local ok, answer = pcall(decide, fields(ARGV[i]))
  answers[i] = ok and answer or {{'error', tostring(answer)}}
end
return answers
"""
)
DECIDE_KEYS = (KEY, HOLDS_KEY, LIMITS_KEY)


def network(address: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    """The client's network ("192.0.2.0/24"), '' for anything that is not an address."""
    for family, bits, prefix in (
        (socket.AF_INET, 32, ipv4_prefix),
        (socket.AF_INET6, 128, ipv6_prefix),
    ):
        try:
            packed = socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        prefix = max(0, min(prefix, bits))
        number = int.from_bytes(packed, "big") >> (bits - prefix) << (bits - prefix)
        return f"{socket.inet_ntop(family, number.to_bytes(bits // 8, 'big'))}/{prefix}"
    return ""


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
