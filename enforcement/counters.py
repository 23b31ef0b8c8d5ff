"""Recipient counters in Redis: one hash per mailbox, domain and hosting holding buckets,
the recipients of each minute of the last hour and of each hour of the last day (field M,
minutes since the epoch; field -H, hours since the epoch), checked and counted by one
script so that two connections at once can never both take the last place under a limit.
A counter's size follows how many minutes and hours its sender sent in, never how many
recipients: 86 buckets at most (a mailbox's also keeps the client networks it was seen
from in the hourly window, for compromise detection: "n<network>" -> its last minute).

Windows slide by the minute: a recipient sent in minute m counts in the hourly window
until one hour after the end of m, and in the daily window until one day after the end of
its hour; a place frees up at the start of a minute (of an hour for the day), the time
"sending resumes at" names. No window ever lets more than its limit through within any
real hour or day. The same script runs in Rspamd (deploy/rspamd/rspamd.local.lua) for
website scripts, on the same keys."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from enforcement.scripts import ADMIT
from hosting.durations import DAY, HOUR

# The limits in force, which the panel publishes (limits/state.py) and the scripts read.
LIMITS_KEY = "lwsmail:limits"
PREFIX = "lwsmail:rate:"
# Who met a limit, and when last (staff's "at their limit now"): counter key -> time.
REFUSED_KEY = "lwsmail:rate:refused"
# Mailboxes on hold (L-HOLD): address -> JSON {t: token, at, why, n: seen, max, nets}.
HOLDS_KEY = "lwsmail:holds"
# When the counters began counting, in seconds: set when limits_rebuild first publishes the
# limits into a Redis that had none (an empty or a new one), since nothing is counted
# before that. A window that starts earlier holds less than what was sent: the pages say
# "since", and without it they say they do not know.
SINCE_KEY = "lwsmail:rate:since"

# The counting (lua/admit_function.lua), which the policy service's script (decide.py)
# calls too; ADMIT runs it on its KEYS and ARGV (Rspamd, and `admit` below).
# KEYS: the counters, then the message's own counter, then REFUSED_KEY; with detection,
#       then HOLDS_KEY and the mailbox's lift floor (the first counter is then the
#       mailbox's, which also holds its client networks of the hourly window).
# ARGV: now, a unique token (the hold's), recipients to add, per-message limit (0: none), the
#       number of counters, then for each counter its hourly and daily limits (0: none);
#       with detection, then the volume that holds (0: none), the client network ('':
#       none), the networks that hold (0: none) and the mailbox (the field of HOLDS_KEY).
# Returns {-1} when counted; {-2, 'volume' | 'networks', what was seen, the threshold,
# 1 if this call started the hold, the hold's JSON} when the mailbox is held (nothing
# counted); else {index of the counter (0: the message), 'hour' | 'day' | 'message', the
# limit, when a place frees up (seconds, as a string; '0': never)}.


KINDS = ("mailbox", "domain", "hosting")


def key(kind: str, target: str | int) -> str:
    return f"{PREFIX}{kind}:{str(target).lower()}"


def key_parts(name: str) -> tuple[str, str] | None:
    """The (kind, target) a counter's key names, None for any other key."""
    kind, sep, target = name.removeprefix(PREFIX).partition(":")
    return (kind, target) if name.startswith(PREFIX) and sep and kind in KINDS else None


@dataclass(frozen=True)
class Counter:
    """One counter a recipient is counted on, with its limits (0: none)."""

    kind: str  # "mailbox", "domain" or "hosting"
    target: str
    per_hour: int
    per_day: int

    @property
    def key(self) -> str:
        return key(self.kind, self.target)


@dataclass(frozen=True)
class Refusal:
    counter: Counter | None  # None: the message's own recipient limit
    window: str  # "hour", "day" or "message"
    limit: int
    resumes_at: datetime | None

    def reply(self, sender: str) -> str:
        """The Postfix action: a temporary refusal, which never counts as spam."""
        return "450 4.7.1 " + self.text(sender)

    def text(self, sender: str) -> str:
        if self.window == "message":
            return f"L-RATE <{sender}>: at most {self.limit} recipients per message"
        period = "hourly" if self.window == "hour" else "daily"
        whose = {
            "mailbox": "",
            "domain": f" of the domain {self.counter.target}",
            "hosting": " of this hosting",
        }[self.counter.kind]
        text = f"L-RATE <{sender}>: {period} limit of {self.limit} recipients{whose} reached"
        if self.resumes_at is not None:
            text += f", sending resumes at {self.resumes_at:%Y-%m-%d %H:%M:%S} UTC"
        return text


@dataclass(frozen=True)
class Detection:
    """What compromise detection checks for one authenticated mailbox (0 or '': off)."""

    mailbox: str
    volume: int  # recipients in one hour above which it is held
    network: str  # the client's network ("192.0.2.0/24")
    max_networks: int

    def keys(self) -> list[str]:
        return [HOLDS_KEY, key("lifted", self.mailbox)]

    def args(self) -> list[str | int]:
        return [self.volume, self.network, self.max_networks, self.mailbox]


@dataclass(frozen=True)
class Held:
    """The script put the mailbox on hold (or found it held by another connection)."""

    reason: str  # "volume" or "networks"
    observed: int
    threshold: int
    new: bool  # this call started it
    entry: dict  # what HOLDS_KEY holds for it

    def reply(self, sender: str) -> str:
        return hold_reply(sender)


def hold_reply(sender: str) -> str:
    """The Postfix action for a held mailbox: a permanent refusal naming the cure."""
    return (
        f"REJECT 5.7.1 L-HOLD <{sender}>: sending held, suspected stolen password, "
        "change it in the panel"
    )


def admit_args(
    counters: list[Counter],
    *,
    recipients: int,
    per_message: int,
    now: float | None = None,
    detection: Detection | None = None,
) -> list[str | int | float]:
    now = time.time() if now is None else now
    # 48 random bits name the call (a hold it starts keeps them: limits/state.py).
    args: list[str | int | float] = [
        repr(now),
        uuid.uuid4().hex[:12],
        recipients,
        per_message,
        len(counters),
    ]
    for c in counters:
        args += [c.per_hour, c.per_day]
    if detection is not None:
        args += detection.args()
    return args


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def refusal(
    result: list, counters: Sequence[Counter] | Mapping[int, Counter]
) -> Refusal | Held | None:
    """What the script's answer means: None when the recipients were counted. `counters`
    gives the counter of a refusal by its index less one."""
    index = int(result[0])
    if index == -2:
        entry = json.loads(result[5])
        return Held(_text(result[1]), int(result[2]), int(result[3]), bool(int(result[4])), entry)
    if index < 0:
        return None
    resumes = float(result[3])
    return Refusal(
        counter=counters[index - 1] if index > 0 else None,
        window=_text(result[1]),
        limit=int(result[2]),
        resumes_at=datetime.fromtimestamp(resumes, UTC) if resumes > 0 else None,
    )


def admit_keys(
    counters: list[Counter], message: str, detection: Detection | None = None
) -> list[str]:
    keys = [c.key for c in counters] + [key("message", message or "none"), REFUSED_KEY]
    return keys + detection.keys() if detection is not None else keys


def admit(
    redis,
    counters: list[Counter],
    *,
    message: str = "",
    recipients: int = 1,
    per_message: int = 0,
    now: float | None = None,
    detection: Detection | None = None,
) -> Refusal | Held | None:
    """Count `recipients` on every counter if none is over its limit and the mailbox is not
    to be held (synchronous Redis)."""
    keys = admit_keys(counters, message, detection)
    per_message = per_message if message else 0
    args = admit_args(
        counters, recipients=recipients, per_message=per_message, now=now, detection=detection
    )
    return refusal(redis.register_script(ADMIT)(keys=keys, args=args), counters)


@dataclass(frozen=True)
class Use:
    last_hour: int | None  # None: not known (Redis lost its counts)
    last_day: int | None
    # Counting began inside the window: its count is only what came since then.
    hour_since: datetime | None = None
    day_since: datetime | None = None


# How many minute and hour buckets a window holds (lua/admit_function.lua): the current
# one and those after the window's length.
WINDOW_MINUTES, WINDOW_HOURS = 60, 24


def window_counts(buckets: Mapping[bytes | str, bytes | str], now: float) -> tuple[int, int]:
    """The recipients a counter's buckets hold in the hourly and the daily window at `now`,
    as the script counts them."""
    minute, hour = int(now // 60), int(now // 3600)
    in_hour = in_day = 0
    for field, value in buckets.items():
        if not (field.lstrip(b"-") if isinstance(field, bytes) else field.lstrip("-")).isdigit():
            continue  # a client network of the mailbox (detection), not a bucket
        at, count = int(field), int(value)
        if at >= 0 and minute - at <= WINDOW_MINUTES:
            in_hour += count
        elif at < 0 and hour + at <= WINDOW_HOURS:
            in_day += count
    return in_hour, in_day


def usage(redis, keys: list[str], *, now: float | None = None) -> dict[str, Use]:
    """Recipients counted on each key in the hourly and the daily window (read only), with
    when counting began where that is inside a window."""
    now = time.time() if now is None else now
    pipe = redis.pipeline(transaction=False)
    pipe.get(SINCE_KEY)
    for k in keys:
        pipe.hgetall(k)
    since_raw, *buckets = pipe.execute(raise_on_error=False)
    if isinstance(since_raw, Exception) or any(isinstance(b, Exception) for b in buckets):
        # A counter still in the earlier release's form (the script converts it when it
        # next counts on it): not known for now.
        return {k: Use(None, None) for k in keys}
    values = [n for b in buckets for n in window_counts(b, now)]
    try:
        since = float(since_raw)
    except (TypeError, ValueError):
        return {k: Use(None, None) for k in keys}
    began = datetime.fromtimestamp(since, UTC)
    hour_since = began if since > now - HOUR else None
    day_since = began if since > now - DAY else None
    return {
        k: Use(values[2 * i], values[2 * i + 1], hour_since, day_since) for i, k in enumerate(keys)
    }
