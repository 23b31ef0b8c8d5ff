"""The limits that apply: inherited values and the customer's own, whichever is lower."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import RedisError

from enforcement.counters import HOLDS_KEY, HOUR, REFUSED_KEY, key, key_parts, usage
from hosting.models import Domain, Hosting, Mailbox
from limits.models import LIMIT_FIELDS, DomainLimit, Hold, MailboxLimit, SendingLimits

log = logging.getLogger(__name__)

# The seeded server default (docs/rules.md, "Sending limits"): a fresh database before its
# migration has run still limits mail the same way.
SERVER_DEFAULT = {
    "mailbox_per_hour": 200,
    "mailbox_per_day": 1000,
    "domain_per_hour": 500,
    "domain_per_day": 3000,
    "hosting_per_hour": None,
    "hosting_per_day": None,
    "per_message": 100,
}


@dataclass(frozen=True)
class Window:
    """Recipients allowed per sliding hour and per sliding 24 hours (None: no limit)."""

    per_hour: int | None
    per_day: int | None

    def pair(self) -> list[int]:
        """As the counters read it: 0 for no limit."""
        return [self.per_hour or 0, self.per_day or 0]


def lower(*values: int | None) -> int | None:
    """The strictest of the values that are set."""
    present = [v for v in values if v is not None]
    return min(present) if present else None


def server_default() -> dict[str, int | None]:
    row = SendingLimits.objects.filter(hosting__isnull=True).first()
    if row is None:
        return dict(SERVER_DEFAULT)
    return {name: getattr(row, name) for name in LIMIT_FIELDS}


def inherit(default: dict[str, int | None], row: SendingLimits | None) -> dict[str, int | None]:
    """What a hosting's domains and mailboxes inherit: the hosting row's values where staff
    set them, the server default elsewhere."""
    values = dict(default)
    if row is not None:
        values.update({n: v for n in LIMIT_FIELDS if (v := getattr(row, n)) is not None})
    return values


def hosting_inherited(hosting: Hosting) -> dict[str, int | None]:
    return inherit(server_default(), SendingLimits.objects.filter(hosting=hosting).first())


def window(
    inherited: dict[str, int | None], prefix: str, own: DomainLimit | MailboxLimit | None = None
) -> Window:
    """The `prefix` ("mailbox", "domain", "hosting") window in force: the lower of the
    inherited value and the customer's own."""
    return Window(
        lower(inherited[f"{prefix}_per_hour"], own.per_hour if own else None),
        lower(inherited[f"{prefix}_per_day"], own.per_day if own else None),
    )


def own_limit_ceilings(target: Domain | Mailbox) -> dict[str, int | None]:
    """What a customer's own limits of a domain or a mailbox may not exceed (None: any)."""
    if isinstance(target, Mailbox):
        inherited = hosting_inherited(target.domain.hosting)
        ceilings = window(inherited, "mailbox")
        return {
            "per_hour": ceilings.per_hour,
            "per_day": ceilings.per_day,
            "per_message": inherited["per_message"],
        }
    ceilings = window(hosting_inherited(target.hosting), "domain")
    return {"per_hour": ceilings.per_hour, "per_day": ceilings.per_day}


@dataclass(frozen=True)
class LimitRow:
    """A mailbox, domain or the hosting: its limits, who set them, and its use now."""

    kind: str  # "mailbox", "domain" or "hosting"
    pk: int
    name: str
    inherited: Window
    own: Window
    in_force: Window
    inherited_per_message: int | None
    own_per_message: int | None
    per_message: int | None
    last_hour: int | None  # None: Redis could not say
    last_day: int | None
    # Counting began inside the window (Redis lost its counts then): counted since then.
    hour_since: datetime | None = None
    day_since: datetime | None = None

    @property
    def hour_near(self) -> bool:
        return _near(self.last_hour, self.in_force.per_hour)

    @property
    def day_near(self) -> bool:
        return _near(self.last_day, self.in_force.per_day)

    @property
    def at_limit(self) -> bool:
        return any(
            limit is not None and used is not None and used >= limit
            for used, limit in (
                (self.last_hour, self.in_force.per_hour),
                (self.last_day, self.in_force.per_day),
            )
        )


def _near(used: int | None, limit: int | None) -> bool:
    return limit is not None and used is not None and used >= 0.8 * limit


def hosting_limit_rows(*, hosting: Hosting, redis) -> list[LimitRow]:
    """The hosting, then each domain, then each mailbox, with this hour's and today's use."""
    inherited = hosting_inherited(hosting)
    domains = list(Domain.objects.filter(hosting=hosting).select_related("own_limit"))
    boxes = list(
        Mailbox.objects.filter(domain__hosting=hosting).select_related("own_limit", "domain")
    )
    targets = [("hosting", hosting.pk, hosting.name, None)]
    targets += [("domain", d.pk, d.name, getattr(d, "own_limit", None)) for d in domains]
    targets += [("mailbox", b.pk, b.address, getattr(b, "own_limit", None)) for b in boxes]
    keys = [key(kind, pk if kind == "hosting" else name) for kind, pk, name, _ in targets]
    try:
        use = usage(redis, keys)
    except RedisError:
        log.exception("sending limits: use unreadable")
        use = {}  # the page says it does not know, never that nothing was sent
    rows = []
    for (kind, pk, name, own), k in zip(targets, keys, strict=True):
        inherited_pm = inherited["per_message"] if kind == "mailbox" else None
        own_pm = getattr(own, "per_message", None)
        rows.append(
            LimitRow(
                kind=kind,
                pk=pk,
                name=name,
                inherited=window(inherited, kind),
                own=Window(own.per_hour, own.per_day) if own else Window(None, None),
                in_force=window(inherited, kind, own),
                inherited_per_message=inherited_pm,
                own_per_message=own_pm,
                per_message=lower(inherited_pm, own_pm) if kind == "mailbox" else None,
                last_hour=use[k].last_hour if k in use else None,
                last_day=use[k].last_day if k in use else None,
                hour_since=use[k].hour_since if k in use else None,
                day_since=use[k].day_since if k in use else None,
            )
        )
    return rows


def counter_hostings(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The hosting id of each counter (kind, target): a mailbox's, a domain's, a hosting."""
    boxes = [t for k, t in keys if k == "mailbox"]
    domains = [t for k, t in keys if k == "domain"]
    found: dict[tuple[str, str], int] = {}
    for address, hosting in Mailbox.objects.filter(address__in=boxes).values_list(
        "address", "domain__hosting_id"
    ):
        found["mailbox", address.lower()] = hosting
    for name, hosting in Domain.objects.filter(name__in=domains).values_list("name", "hosting_id"):
        found["domain", name.lower()] = hosting
    for kind, target in keys:
        if kind == "hosting" and target.isdigit():
            found[kind, target] = int(target)
    return found


def senders_at_limit(*, redis, now: float | None = None) -> list[dict]:
    """Counters refused a recipient in the last hour, the latest first, with their use now."""
    now = time.time() if now is None else now
    refused = redis.zrevrangebyscore(REFUSED_KEY, "+inf", now - HOUR, withscores=True)
    named = [(k, parts, at) for raw, at in refused if (parts := key_parts(k := raw.decode()))]
    use = usage(redis, [k for k, _, _ in named], now=now)
    return [
        {
            "kind": kind,
            "target": target,
            "last_refused": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at)),
            "last_hour": use[k].last_hour,
            "last_day": use[k].last_day,
        }
        for k, (kind, target), at in named
    ]


@dataclass(frozen=True)
class HeldAddress:
    """A mailbox the policy service refuses as compromised (L-HOLD)."""

    mailbox_id: int
    address: str
    started_at: datetime
    reason: str
    observed: int
    threshold: int

    code = Hold.CODE


def hosting_holds(*, hosting: Hosting, redis) -> dict[str, HeldAddress]:
    """The hosting's held mailboxes by address: those recorded, and those the policy
    service holds whose record has not been written yet (the page says what it enforces)."""
    held = {
        h.mailbox.address: HeldAddress(
            h.mailbox_id, h.mailbox.address, h.started_at, h.reason, h.observed, h.threshold
        )
        for h in Hold.objects.standing().filter(hosting=hosting).select_related("mailbox")
    }
    boxes = dict(Mailbox.objects.filter(domain__hosting=hosting).values_list("address", "pk"))
    try:
        stored = redis.hmget(HOLDS_KEY, list(boxes)) if boxes else []
    except RedisError:
        log.exception("holds unreadable in Redis; the recorded ones are shown")
        return held
    for address, value in zip(boxes, stored, strict=True):
        if value is None or address in held:
            continue
        try:
            entry = json.loads(value)
            held[address] = HeldAddress(
                boxes[address],
                address,
                datetime.fromtimestamp(float(entry["at"]), UTC),
                str(entry.get("why", "")),
                int(entry.get("n") or 0),
                int(entry.get("max") or 0),
            )
        except (KeyError, TypeError, ValueError):
            log.warning("hold of %s unreadable in Redis: %r", address, value)
    return held
