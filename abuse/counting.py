"""Counting by the rules of docs/rules.md: what is spam, which target a spam counts for, how
many spam a target has in a tier's window, and which block is the strongest. Read only:
the engine (abuse/engine.py) and the Mail Abuse meters both count through here."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Max

from abuse.models import Block, PolicySettings, PolicyTier, Scope
from tracking.models import OutboundMessage, Source

MANUAL_LIFTS = (Block.LiftReason.UNBLOCK, Block.LiftReason.STAFF)
# Staff edits of the policy table reach every worker within this many seconds; reading
# the table once per message was a fifth of the cost of recording one.
POLICY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Policy:
    spam_score_threshold: float
    tiers: tuple[PolicyTier, ...]  # enabled, strongest first


_policy: tuple[float, Policy] | None = None


def policy_cached() -> Policy:
    """The policy settings and enabled tiers, re-read at most every POLICY_CACHE_SECONDS."""
    global _policy
    now = time.monotonic()
    if _policy is None or now - _policy[0] > POLICY_CACHE_SECONDS:
        settings = PolicySettings.load()
        tiers = tuple(PolicyTier.objects.enabled().order_by("-rank"))
        _policy = (now, Policy(settings.spam_score_threshold, tiers))
    return _policy[1]


def policy_cache_clear() -> None:
    global _policy
    _policy = None


def is_spam(*, score: float, action: str) -> bool:
    """A message is spam when Rspamd rejected it or its score is over the threshold."""
    return action == "reject" or score > policy_cached().spam_score_threshold


def strongest(blocks: Iterable[Block]) -> Block | None:
    """The most severe of the blocks (highest rank): the one the mail server enforces."""
    return max(blocks, key=lambda b: b.rank, default=None)


@dataclass(frozen=True)
class Target:
    scope: str
    name: str
    hosting_id: int
    domain_id: int
    mailbox_id: int | None

    def spam_key(self) -> tuple[str, int | None]:
        """The column of the messages' table that names the target, and its value."""
        if self.scope == Scope.ADDRESS:
            return "mailbox_id", self.mailbox_id
        return "domain_id", self.domain_id

    def spam(self):
        column, key = self.spam_key()
        return OutboundMessage.objects.spam().filter(**{column: key})


def targets_of(message: OutboundMessage) -> list[Target]:
    """The address (mailbox over SMTP) and the domain a spam message counts for."""
    if message.domain_id is None:
        return []
    targets = []
    if message.mailbox_id is not None and message.source == Source.MAILBOX:
        targets.append(
            Target(
                Scope.ADDRESS,
                message.mailbox.address,
                message.hosting_id,
                message.domain_id,
                message.mailbox_id,
            )
        )
    targets.append(
        Target(Scope.DOMAIN, message.domain.name, message.hosting_id, message.domain_id, None)
    )
    return targets


@dataclass(frozen=True)
class LiftFloors:
    """Spam sent before the last unblock or staff lift of a tier (or a stronger one)
    does not count again for it: an unblocked customer starts afresh for what was lifted."""

    lifts: tuple[tuple[int, datetime], ...]

    @classmethod
    def of(cls, target: Target) -> LiftFloors:
        return cls.of_targets([target])[target]

    @classmethod
    def of_targets(cls, targets: Iterable[Target]) -> dict[Target, LiftFloors]:
        """Every target's floors from one query."""
        targets = list(targets)
        rows = (
            Block.objects.of_targets(targets)
            .filter(lift_reason__in=MANUAL_LIFTS)
            .order_by()
            .values("scope", "target", "rank")
            .annotate(last=Max("lifted_at"))
            .values_list("scope", "target", "rank", "last")
        )
        lifts: dict[tuple[str, str], list[tuple[int, datetime]]] = {}
        for scope, name, rank, last in rows:
            lifts.setdefault((scope, name), []).append((rank, last))
        return {t: cls(tuple(lifts.get((t.scope, t.name), ()))) for t in targets}

    def for_rank(self, rank: int) -> datetime | None:
        return max((at for r, at in self.lifts if r >= rank), default=None)


def spam_count(
    *,
    tier: PolicyTier,
    target: Target,
    message: OutboundMessage,
    now: datetime,
    floors: LiftFloors | None = None,
    counts: dict[int, int] | None = None,
) -> int:
    """Spam of `target` in the tier's window ending now, capped at the threshold (from
    `counts`, spam_counts_in_windows's answer, when given)."""
    floors = floors or LiftFloors.of(target)
    if tier.is_immediate:
        # The message itself; one whose block would already have run out starts none.
        floor = floors.for_rank(tier.rank)
        recent = tier.block_duration is None or message.sent_at + tier.block_duration > now
        after_floor = floor is None or message.sent_at > floor
        return int(message.is_spam and recent and after_floor)
    if counts is not None and tier.pk in counts:
        return counts[tier.pk]
    return spam_count_in_window(tier=tier, target=target, now=now, floors=floors)


def _since(tier: PolicyTier, now: datetime, floors: LiftFloors) -> datetime:
    since = now - tier.window
    floor = floors.for_rank(tier.rank)
    return floor if floor is not None and floor > since else since


def spam_counts_in_windows(
    *, tiers: list[PolicyTier], target: Target, now: datetime, floors: LiftFloors
) -> dict[int, int]:
    """Spam of `target` in each tier's window ending now, after its lift floor, capped at
    its threshold, by tier id, from one read of the target's newest spam. The spam inside
    a window ending now is a prefix of the newest-first order, so the newest
    max(threshold) rows hold every count up to its cap: the work stays bounded by the
    thresholds, whatever the history, and one query serves every tier."""
    return spam_counts_as_recorded(tiers=tiers, target=target, now=now, floors=floors, batch=[])[-1]


def spam_counts_as_recorded(
    *,
    tiers: list[PolicyTier],
    target: Target,
    now: datetime,
    floors: LiftFloors,
    batch: list[int],
) -> list[dict[int, int]]:
    """spam_counts_in_windows as it stood once each of `batch` (the ids of the target's
    spam just stored together, in the order sent) was recorded and the later ones not
    yet, from one read: the newest max(threshold) + len(batch) - 1 rows hold every count
    up to its cap, whichever of the batch are set aside. Without a batch, the counts now."""
    if not tiers:
        return [{} for _ in batch] or [{}]
    sinces = {t.pk: _since(t, now, floors) for t in tiers}
    cap = max(t.threshold for t in tiers)
    since = min(sinces.values())
    # The last of the batch sets none aside: alone, it needs no ids (the index holds the
    # send times, not the ids) and no more rows than the cap.
    if len(batch) > 1:
        newest = _newest_spam(target, ("id", "sent_at"), since=since, limit=cap + len(batch) - 1)
    else:
        newest = [
            (None, at) for (at,) in _newest_spam(target, ("sent_at",), since=since, limit=cap)
        ]
    later = set(batch)
    counts = []
    for pk in batch or [None]:
        later.discard(pk)
        seen = [at for row, at in newest if row not in later][:cap]
        counts.append(
            {t.pk: min(t.threshold, sum(1 for at in seen if at > sinces[t.pk])) for t in tiers}
        )
    return counts


# The ORM compiled this query anew for each target of each batch: as one statement of a
# fixed shape, the worker makes a ninth fewer Python calls (`make bench-drain
# BENCH_ARGS="--profile"`: 2.61 → 2.31 million).
_NEWEST_SPAM = (
    "SELECT {columns} FROM " + f'"{OutboundMessage._meta.db_table}"'
    " WHERE is_spam AND {scope} = %s AND sent_at > %s ORDER BY sent_at DESC LIMIT %s"
)


def _newest_spam(
    target: Target, columns: tuple[str, ...], *, since: datetime, limit: int
) -> list[tuple]:
    """`columns` of the target's spam sent after `since`, newest first, at most `limit`:
    target.spam() as one statement, on the partial index of its scope."""
    if connection.vendor != "postgresql":
        # SQLite (the demo) hands dates over as text: the ORM reads them.
        recent = target.spam().filter(sent_at__gt=since).order_by("-sent_at")
        return list(recent.values_list(*columns)[:limit])
    scope, key = target.spam_key()
    statement = _NEWEST_SPAM.format(columns=", ".join(columns), scope=scope)
    with connection.cursor() as cursor:
        cursor.execute(statement, [key, since, limit])
        return cursor.fetchall()


def spam_count_in_window(
    *, tier: PolicyTier, target: Target, now: datetime, floors: LiftFloors
) -> int:
    """Spam of `target` in the tier's window ending now, after its lift floor, capped at
    the threshold."""
    return spam_counts_in_windows(tiers=[tier], target=target, now=now, floors=floors)[tier.pk]
