"""What the operations dashboard shows, across every hosting. Each figure is one query on
an index (the message store's partial spam indexes, pruned to the partitions of the
period), so the page costs the same with 10^4 or 10^7 messages stored."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Max, QuerySet
from django.db.models.functions import TruncDate
from redis import RedisError

from abuse.models import Block, PolicyTier, Scope
from hosting.models import Domain, Hosting, Mailbox
from limits.selectors import counter_hostings, senders_at_limit
from ops.charts import Chart, bar_chart
from ops.health import Health, pipeline_health
from reputation.blocklists import blocklist_statuses
from reputation.models import BlocklistStatus, ParkedReport
from tracking.models import OutboundMessage

AGES = {
    "1h": ("started in the last hour", timedelta(hours=1)),
    "24h": ("in the last 24 hours", timedelta(hours=24)),
    "7d": ("in the last 7 days", timedelta(days=7)),
    "older": ("more than 7 days ago", None),
}
REPEAT_PERIOD = timedelta(days=90)


@dataclass(frozen=True)
class BlockFilter:
    code: str = ""
    scope: str = ""
    age: str = ""

    @classmethod
    def from_query(cls, query, codes: list[str]) -> BlockFilter:
        """From the page's query string; a value it does not know is ignored (never a 500)."""
        code = query.get("code", "")
        scope = query.get("scope", "")
        age = query.get("age", "")
        return cls(
            code=code if code in codes else "",
            scope=scope if scope in Scope.values else "",
            age=age if age in AGES else "",
        )


def block_codes() -> list[str]:
    """The codes a block can carry: the tiers' (a tier a block used is never deleted)."""
    return sorted(PolicyTier.objects.values_list("code", flat=True))


def blocks_now(
    *, selected: BlockFilter, now: datetime, limit: int = 200
) -> tuple[list[Block], int]:
    """Blocks in force now, newest first, filtered; and how many match in all."""
    blocks: QuerySet[Block] = Block.objects.active(now).select_related("hosting")
    if selected.code:
        blocks = blocks.filter(code=selected.code)
    if selected.scope:
        blocks = blocks.filter(scope=selected.scope)
    if selected.age == "older":
        blocks = blocks.filter(started_at__lte=now - timedelta(days=7))
    elif selected.age:
        blocks = blocks.filter(started_at__gt=now - AGES[selected.age][1])
    return list(blocks.order_by("-started_at", "-id")[:limit]), blocks.count()


@dataclass(frozen=True)
class Day:
    day: date
    blocks: int
    spam: int


def days(*, count: int, now: datetime) -> list[Day]:
    """Blocks started and spam counted per day (UTC) over the last `count` days, today included."""
    first = (now.astimezone(UTC) - timedelta(days=count - 1)).date()
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    blocks = dict(
        Block.objects.filter(started_at__gte=start, started_at__lte=now)
        .annotate(day=TruncDate("started_at", tzinfo=UTC))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    spam = dict(
        OutboundMessage.objects.spam()
        .filter(sent_at__gte=start, sent_at__lte=now)
        .annotate(day=TruncDate("sent_at", tzinfo=UTC))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    return [
        Day(d, blocks.get(d, 0), spam.get(d, 0))
        for d in (first + timedelta(days=i) for i in range(count))
    ]


@dataclass(frozen=True)
class Ranked:
    name: str
    hosting: Hosting | None
    spam: int


def top_spammers(
    *, since: datetime, now: datetime, limit: int = 10
) -> tuple[list[Ranked], list[Ranked]]:
    """The hostings and the addresses with the most spam since `since`."""
    spam = OutboundMessage.objects.spam().filter(sent_at__gte=since, sent_at__lte=now)
    per_domain = dict(
        spam.exclude(domain=None).values_list("domain").annotate(n=Count("id")).order_by()
    )
    hosting_of = dict(Domain.objects.filter(pk__in=per_domain).values_list("pk", "hosting_id"))
    per_hosting: dict[int, int] = {}
    for domain, n in per_domain.items():
        per_hosting[hosting_of[domain]] = per_hosting.get(hosting_of[domain], 0) + n
    best_hostings = sorted(per_hosting.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    hostings = Hosting.objects.in_bulk([h for h, _ in best_hostings])
    per_mailbox = list(
        spam.exclude(mailbox=None)
        .values_list("mailbox")
        .annotate(n=Count("id"))
        .order_by("-n", "mailbox")[:limit]
    )
    boxes = Mailbox.objects.select_related("domain__hosting").in_bulk([m for m, _ in per_mailbox])
    return (
        [Ranked(hostings[h].name, hostings[h], n) for h, n in best_hostings],
        [Ranked(boxes[m].address, boxes[m].domain.hosting, n) for m, n in per_mailbox],
    )


@dataclass(frozen=True)
class Offender:
    target: str
    scope: str
    hosting: Hosting
    blocks: int
    codes: list[str]
    last: datetime


def repeat_offenders(*, now: datetime, limit: int = 100) -> list[Offender]:
    """Addresses and domains with two or more blocks of any code (timed ones and
    escalations each count) started in the last 90 days, the most blocked first: grouped
    in PostgreSQL, then the codes of those shown."""
    recent = Block.objects.filter(started_at__gt=now - REPEAT_PERIOD, started_at__lte=now)
    groups = list(
        recent.values("scope", "target", "hosting")
        .annotate(n=Count("id"), last=Max("started_at"))
        .filter(n__gte=2)
        .order_by("-n", "-last", "target")[:limit]
    )
    codes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for scope, target, code in (
        recent.filter(target__in={g["target"] for g in groups})
        .order_by("started_at", "id")
        .values_list("scope", "target", "code")
    ):
        codes[scope, target].append(code)
    hostings = Hosting.objects.in_bulk({g["hosting"] for g in groups})
    return [
        Offender(
            g["target"],
            g["scope"],
            hostings[g["hosting"]],
            g["n"],
            codes[g["scope"], g["target"]],
            g["last"],
        )
        for g in groups
    ]


def unattributed(*, since: datetime) -> int:
    """Messages since `since` that no hosting owns (an unknown sender or uid)."""
    return OutboundMessage.objects.filter(hosting=None, sent_at__gte=since).count()


@dataclass(frozen=True)
class AtLimit:
    hosting: Hosting | None
    kind: str
    target: str
    last_refused: str
    last_hour: int
    last_day: int


def at_limit(*, redis) -> list[AtLimit]:
    """Counters refused a recipient in the last hour, with their hosting (L-RATE)."""
    rows = senders_at_limit(redis=redis)
    owners = counter_hostings([(r["kind"], r["target"]) for r in rows])
    hostings = Hosting.objects.in_bulk(set(owners.values()))
    return [
        AtLimit(
            hostings.get(owners.get((r["kind"], r["target"]))),
            r["kind"],
            r["target"],
            r["last_refused"],
            r["last_hour"],
            r["last_day"],
        )
        for r in rows
    ]


@dataclass
class Dashboard:
    selected: BlockFilter
    codes: list[str]
    blocks: list[Block]
    blocks_matching: int
    charts: list[Chart]
    top_hostings: list[Ranked]
    top_addresses: list[Ranked]
    offenders: list[Offender]
    at_limit: list[AtLimit] | None  # None: Redis unreadable
    unattributed_week: int
    health: Health
    blocklists: list[BlocklistStatus]
    parked_reports: int


def dashboard(*, query, redis, now: datetime) -> Dashboard:
    """Everything the operations dashboard shows, as of `now`."""
    codes = block_codes()
    selected = BlockFilter.from_query(query, codes)
    blocks, matching = blocks_now(selected=selected, now=now)
    long = days(count=120, now=now)
    short = long[-30:]
    week = now - timedelta(days=7)
    top_hostings, top_addresses = top_spammers(since=week, now=now)
    try:
        limited = at_limit(redis=redis)
    except RedisError:
        limited = None
    return Dashboard(
        selected=selected,
        codes=codes,
        blocks=blocks,
        blocks_matching=matching,
        charts=[
            bar_chart(
                f"{kind}-{len(period)}",
                f"{title} per day, last {len(period)} days",
                [(d.day, getattr(d, kind)) for d in period],
            )
            for period in (short, long)
            for kind, title in (("blocks", "Blocks started"), ("spam", "Spam counted"))
        ],
        top_hostings=top_hostings,
        top_addresses=top_addresses,
        offenders=repeat_offenders(now=now),
        at_limit=limited,
        unattributed_week=unattributed(since=week),
        health=pipeline_health(redis=redis, now=now),
        blocklists=blocklist_statuses(),
        parked_reports=ParkedReport.objects.count(),
    )
