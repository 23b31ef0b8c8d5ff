"""The limits that apply: inherited values and the customer's own, whichever is lower."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis import RedisError

from limits.models import DomainLimit, MailboxLimit, SendingLimits
from lwsmail.models import Domain, Hosting, Mailbox

log = logging.getLogger(__name__)

# The seeded server default (DOMAIN.md, "Sending limits"): a fresh database before its
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
    return {name: getattr(row, name) for name in SendingLimits.FIELDS}


def hosting_inherited(
    hosting: Hosting, *, default: dict[str, int | None] | None = None
) -> dict[str, int | None]:
    """What the hosting's domains and mailboxes inherit: staff's values for this hosting
    where set, the server default elsewhere."""
    values = dict(default if default is not None else server_default())
    own = SendingLimits.objects.filter(hosting=hosting).first()
    if own is not None:
        values.update({n: getattr(own, n) for n in SendingLimits.FIELDS if getattr(own, n)})
    return values


@dataclass(frozen=True)
class Limits:
    """Everything one sender's recipient is checked against."""

    mailbox: Window
    domain: Window
    hosting: Window
    per_message: int | None
    inherited_mailbox: Window
    inherited_domain: Window
    inherited_per_message: int | None


def _window(inherited: dict, prefix: str, own: DomainLimit | MailboxLimit | None) -> Window:
    return Window(
        lower(inherited[f"{prefix}_per_hour"], own.per_hour if own else None),
        lower(inherited[f"{prefix}_per_day"], own.per_day if own else None),
    )


def mailbox_limits(mailbox: Mailbox, *, inherited: dict[str, int | None] | None = None) -> Limits:
    """The limits in force for one mailbox (and the domain and hosting it sends for)."""
    domain = mailbox.domain
    inherited = inherited or hosting_inherited(domain.hosting)
    own_box = MailboxLimit.objects.filter(mailbox=mailbox).first()
    own_domain = DomainLimit.objects.filter(domain=domain).first()
    return Limits(
        mailbox=_window(inherited, "mailbox", own_box),
        domain=_window(inherited, "domain", own_domain),
        hosting=_window(inherited, "hosting", None),
        per_message=lower(inherited["per_message"], own_box.per_message if own_box else None),
        inherited_mailbox=_window(inherited, "mailbox", None),
        inherited_domain=_window(inherited, "domain", None),
        inherited_per_message=inherited["per_message"],
    )


def domain_limits(domain: Domain, *, inherited: dict[str, int | None] | None = None) -> Window:
    inherited = inherited or hosting_inherited(domain.hosting)
    return _window(inherited, "domain", DomainLimit.objects.filter(domain=domain).first())


def domain_inherited(domain: Domain) -> Window:
    """What a domain inherits from its hosting (its customer may only go lower)."""
    return _window(hosting_inherited(domain.hosting), "domain", None)


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
    from limits.counters import key, usage

    inherited = hosting_inherited(hosting)
    domains = list(Domain.objects.filter(hosting=hosting).select_related("own_limit"))
    boxes = list(
        Mailbox.objects.filter(domain__hosting=hosting).select_related("own_limit", "domain")
    )
    keys = (
        [key("hosting", hosting.pk)]
        + [key("domain", d.name) for d in domains]
        + [key("mailbox", b.address) for b in boxes]
    )
    try:
        use = usage(redis, keys)
    except RedisError:
        log.exception("sending limits: use unreadable")
        use = {}  # the page says it does not know, never that nothing was sent
    hosting_window = _window(inherited, "hosting", None)
    rows = [
        LimitRow(
            "hosting",
            hosting.pk,
            hosting.name,
            hosting_window,
            Window(None, None),
            hosting_window,
            None,
            None,
            None,
            *_used(use, keys[0]),
        )
    ]
    for domain in domains:
        own = getattr(domain, "own_limit", None)
        rows.append(
            LimitRow(
                "domain", domain.pk, domain.name,
                _window(inherited, "domain", None),
                Window(own.per_hour, own.per_day) if own else Window(None, None),
                _window(inherited, "domain", own),
                None, None, None,
                *_used(use, key("domain", domain.name)),
            )
        )  # fmt: skip
    for box in boxes:
        own = getattr(box, "own_limit", None)
        own_pm = own.per_message if own else None
        rows.append(
            LimitRow(
                "mailbox", box.pk, box.address,
                _window(inherited, "mailbox", None),
                Window(own.per_hour, own.per_day) if own else Window(None, None),
                _window(inherited, "mailbox", own),
                inherited["per_message"], own_pm, lower(inherited["per_message"], own_pm),
                *_used(use, key("mailbox", box.address)),
            )
        )  # fmt: skip
    return rows


def _used(use: dict, k: str) -> tuple[int | None, int | None]:
    return (use[k].last_hour, use[k].last_day) if k in use else (None, None)
