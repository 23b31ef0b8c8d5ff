"""Postfix's delivery lines, as syslog, postlogd (`maillog_file`) or journald write them:

  Dec  7 16:00:00 mx1 postfix/smtp[123]: 4QlXy...: to=<a@b.example>,
      relay=mx.b.example[192.0.2.1]:25, delay=0.32, delays=0.1/0/0.1/0.1, dsn=2.0.0,
      status=sent (250 2.0.0 Ok: queued as X)
  2026-12-07T16:00:00.123456+01:00 mx1 postfix/smtp[123]: ... status=bounced (... 550 ...)
  Dec  7 16:00:00 mx1 postfix/qmgr[99]: 4QlXy...: from=<s@a.example>, status=expired,
      returned to sender

Anything else (other daemons, other Postfix lines, garbage) is None: counted by the
caller, never an error. Standard library only: the agent runs on the mail host."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

# Postfix's status word and what the panel calls it.
STATUSES = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced", "expired": "expired"}
MAX_REPLY = 2000

_STAMP = (
    r"(?:(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r"|(?P<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)(?:\.\d+)?)"
)
# syslog_name may be postfix, postfix-out, postfix/submission...; the program is the last part.
_LINE = re.compile(
    _STAMP + r" (?P<host>\S+) (?P<prog>postfix[\w.-]*(?:/[\w.-]+)*)/(?P<daemon>[\w-]+)\[\d+\]: "
    r"(?P<qid>[0-9A-Za-z]{5,32}): (?P<rest>.*)$"
)
_FIELD = re.compile(r"(\w+)=(<[^>]*>|[^,\s]*)")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


@dataclass(frozen=True)
class Delivery:
    """One delivery result: a recipient's (or, for `expired`, the whole message's)."""

    host: str
    queue_id: str
    recipient: str  # "" for a message given up as a whole (status expired)
    status: str  # delivered, deferred, bounced, expired
    dsn: str
    reply: str
    relay: str
    delay: float | None
    logged_at: str  # ISO 8601 with its offset

    def as_json(self) -> dict:
        return asdict(self)


def stamp(line: re.Match, now: datetime) -> datetime | None:
    """The line's time. A syslog stamp has no year nor zone: the agent's, and the year
    before when that would put it more than a day in the future (a December line read in
    January)."""
    if line["iso"]:
        text = line["iso"].replace("Z", "+00:00")
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=now.tzinfo)
    month, day, clock = line["bsd"].split()
    try:
        when = datetime.strptime(f"{now.year} {_MONTHS[month]} {day} {clock}", "%Y %m %d %H:%M:%S")
    except (KeyError, ValueError):
        return None
    when = when.replace(tzinfo=now.tzinfo)
    if when - now > timedelta(days=1):
        try:
            when = when.replace(year=now.year - 1)
        except ValueError:  # 29 February of a year that has none
            return None
    return when


def _reply(rest: str) -> str:
    """The text in parentheses after status=..., nested parentheses kept."""
    start = rest.find("(", rest.find("status="))
    if start < 0:
        return ""
    text = rest[start + 1 :]
    return (text[:-1] if text.endswith(")") else text)[:MAX_REPLY]


def parse(line: str, *, now: datetime | None = None) -> Delivery | None:
    """The delivery a log line reports, None for any other line."""
    now = now or datetime.now(UTC).astimezone()
    found = _LINE.match(line.rstrip("\r\n"))
    if found is None:
        return None
    rest = found["rest"]
    fields = dict(_FIELD.findall(rest.split(" (", 1)[0]))
    status = STATUSES.get(fields.get("status", ""))
    if status is None:
        return None
    recipient = fields.get("to", "").strip("<>").lower()
    if status == "expired":
        recipient = ""  # qmgr gives the message up, not one recipient
    elif not recipient or found["daemon"] == "qmgr":
        return None
    when = stamp(found, now)
    if when is None:
        return None
    try:
        delay = float(fields["delay"]) if "delay" in fields else None
    except ValueError:
        delay = None
    return Delivery(
        host=found["host"][:255],
        queue_id=found["qid"],
        recipient=recipient[:254],
        status=status,
        dsn=fields.get("dsn", "")[:16],
        reply=_reply(rest) if status != "expired" else "returned to sender",
        relay=fields.get("relay", "")[:255],
        delay=delay,
        logged_at=when.isoformat(),
    )
