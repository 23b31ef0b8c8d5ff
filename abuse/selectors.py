"""Read-only questions about blocks and unblocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from abuse.counting import LiftFloors, Target, policy_cached, spam_counts_in_windows
from abuse.models import Block, PolicySettings, Scope, Unblock
from hosting.models import Hosting
from tracking.models import OutboundMessage, Source


class Refusal:
    NOTHING_BLOCKED = "nothing_blocked"
    INTERVAL = "interval"
    COMPLAINT_PERIOD = "complaint_period"


REFUSAL_TEXT = {
    Refusal.NOTHING_BLOCKED: _("No address of this hosting is blocked for mail abuse."),
    Refusal.INTERVAL: _(
        "Mailboxes can be unblocked once every %(days)s days; the next unblock is possible "
        "from %(date)s."
    ),
    Refusal.COMPLAINT_PERIOD: _(
        "The complaint period of the blocks is still running; unblocking is possible from %(date)s."
    ),
}


@dataclass(frozen=True)
class UnblockAvailability:
    allowed: bool
    reason: str | None = None
    available_from: datetime | None = None
    blocks: list[Block] = field(default_factory=list)
    uses_exceptional_grant: bool = False
    interval_days: int = 90

    @property
    def waits_for_interval(self) -> bool:
        """Refused by the once-per-interval rule (the page then advises a VPS)."""
        return self.reason == Refusal.INTERVAL

    def explanation(self) -> str:
        """Why Unblock mailboxes is refused and from when, in the active language: the one
        text the page, the refused POST and the exception all show."""
        if self.reason is None:
            return ""
        date = self.available_from
        return str(REFUSAL_TEXT[self.reason]) % {
            "days": self.interval_days,
            "date": date_format(timezone.localtime(date), "SHORT_DATETIME_FORMAT") if date else "",
        }


def hosting_abuse_blocks(*, hosting: Hosting, now: datetime | None = None) -> list[Block]:
    """The hosting's active mail-abuse blocks (those Unblock mailboxes lifts)."""
    return list(
        Block.objects.active(now).mail_abuse().filter(hosting=hosting).order_by("target", "id")
    )


@dataclass(frozen=True)
class StandingBlocks:
    """What the Mail Abuse page lists: the blocks the mail server enforces now."""

    abuse: list[Block]  # until unblocked (L-SPAM20 and up)
    timed: list[Block]  # lift by themselves (L-SPAM00/10/11): change the password first

    @property
    def any(self) -> bool:
        return bool(self.abuse or self.timed)


@dataclass(frozen=True)
class UnblockHistory:
    last: Unblock | None
    next_possible: datetime | None  # None: an unblock is not held back by the interval
    exceptional_granted: bool  # support let the next one through despite the interval


def hosting_unblock_history(*, hosting: Hosting, now: datetime | None = None) -> UnblockHistory:
    """The hosting's last unblock and when the next is possible, for the Mail Abuse page."""
    now = now or timezone.now()
    last = Unblock.objects.filter(hosting=hosting).order_by("-created_at").first()
    interval = PolicySettings.load().unblock_interval
    following = last.created_at + interval if last is not None else None
    return UnblockHistory(
        last=last,
        next_possible=following if following is not None and following > now else None,
        exceptional_granted=hosting.has_exceptional_unblock(),
    )


def hosting_standing_blocks(*, hosting: Hosting, now: datetime | None = None) -> StandingBlocks:
    """The hosting's standing blocks as the mail server enforces them: an address's own
    block is left out where its domain's block is stronger (that one answers for it)."""
    blocks = list(
        Block.objects.active(now)
        .filter(hosting=hosting)
        .select_related("mailbox")
        .order_by("target", "id")
    )
    domain_rank = {b.domain_id: b.rank for b in blocks if b.scope == Scope.DOMAIN}
    shown = [
        b for b in blocks if b.scope == Scope.DOMAIN or domain_rank.get(b.domain_id, -1) < b.rank
    ]
    return StandingBlocks(
        abuse=[b for b in shown if b.is_mail_abuse],
        timed=[b for b in shown if not b.is_mail_abuse],
    )


def unblock_availability(*, hosting: Hosting, now: datetime | None = None) -> UnblockAvailability:
    """Whether Unblock mailboxes is allowed for `hosting` now, and if not, why and from when."""
    now = now or timezone.now()
    policy = PolicySettings.load()
    blocks = hosting_abuse_blocks(hosting=hosting, now=now)
    last = Unblock.objects.filter(hosting=hosting).order_by("-created_at").first()
    common = {"blocks": blocks, "interval_days": policy.unblock_interval.days}
    if not blocks:
        return UnblockAvailability(False, Refusal.NOTHING_BLOCKED, **common)
    within_interval = last is not None and now < last.created_at + policy.unblock_interval
    grant = within_interval and hosting.has_exceptional_unblock()
    waits = []
    if within_interval and not grant:
        waits.append((last.created_at + policy.unblock_interval, Refusal.INTERVAL))
    complaint_end = max((b.complaint_ends_at for b in blocks if b.complaint_ends_at), default=None)
    if complaint_end is not None and now < complaint_end:
        waits.append((complaint_end, Refusal.COMPLAINT_PERIOD))
    if waits:
        # Say the later of the two dates: before it, pressing the button still fails.
        available_from, reason = max(waits)
        return UnblockAvailability(False, reason, available_from, **common)
    return UnblockAvailability(True, uses_exceptional_grant=grant, **common)


@dataclass(frozen=True)
class Meter:
    code: str
    count: int
    threshold: int
    window_days: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.count / self.threshold))

    # The bar turns amber from half the threshold and red from 80 % (the early warning).
    @property
    def low(self) -> float:
        return self.threshold * 0.5

    @property
    def high(self) -> float:
        return self.threshold * 0.8

    @property
    def near(self) -> bool:
        return self.high <= self.count < self.threshold

    @property
    def reached(self) -> bool:
        return self.count >= self.threshold


@dataclass(frozen=True)
class TargetMeters:
    target: str
    scope: str
    meters: list[Meter]


def hosting_meters(*, hosting: Hosting, now: datetime | None = None) -> list[TargetMeters]:
    """For each address and domain of the hosting with recent spam, its count against each
    tier's threshold, counted exactly as the engine counts it."""
    now = now or timezone.now()
    tiers = [t for t in policy_cached().tiers if not t.is_immediate]
    longest = max((t.window for t in tiers), default=None)
    if longest is None:
        return []
    recent = OutboundMessage.objects.spam().filter(hosting=hosting, sent_at__gt=now - longest)
    # order_by(): DISTINCT over the model's default ordering would repeat every target.
    boxes = (
        recent.filter(mailbox__isnull=False, source=Source.MAILBOX)
        .order_by()
        .values_list("mailbox__address", "domain_id", "mailbox_id")
        .distinct()
    )
    domains = recent.order_by().values_list("domain__name", "domain_id").distinct()
    targets = [
        Target(Scope.ADDRESS, address, hosting.pk, domain_id, mailbox_id)
        for address, domain_id, mailbox_id in sorted(boxes)
    ]
    targets += [Target(Scope.DOMAIN, name, hosting.pk, pk, None) for name, pk in sorted(domains)]
    result = []
    for target in targets:
        mine = sorted((t for t in tiers if t.scope == target.scope), key=lambda t: t.rank)
        counts = spam_counts_in_windows(
            tiers=mine, target=target, now=now, floors=LiftFloors.of(target)
        )
        meters = [
            Meter(t.code, counts[t.pk], t.threshold, round(t.window.total_seconds() / 86400))
            for t in mine
        ]
        result.append(TargetMeters(target.name, target.scope, meters))
    return result
