"""The L-SPAM engine: counts a target's spam in each tier's window and starts blocks.

Called by `tracking.services.message_record` inside its transaction, with the
message's domain row locked, so two workers never evaluate one target at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from abuse.blockstate import blockstate_publish, blockstate_withdraw
from abuse.models import Block, PolicySettings, PolicyTier, Scope
from lwsmail.services import audit_record
from tracking.models import OutboundMessage, Source

log = logging.getLogger(__name__)
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


@dataclass(frozen=True)
class Target:
    scope: str
    name: str
    hosting_id: int
    domain_id: int
    mailbox_id: int | None

    def spam(self):
        qs = OutboundMessage.objects.spam()
        if self.scope == Scope.ADDRESS:
            return qs.filter(mailbox_id=self.mailbox_id)
        return qs.filter(domain_id=self.domain_id)


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
        rows = (
            Block.objects.for_target(target.scope, target.name)
            .filter(lift_reason__in=MANUAL_LIFTS)
            .order_by()
            .values("rank")
            .annotate(last=Max("lifted_at"))
            .values_list("rank", "last")
        )
        return cls(tuple(rows))

    def for_rank(self, rank: int) -> datetime | None:
        return max((at for r, at in self.lifts if r >= rank), default=None)


def spam_count(
    *,
    tier: PolicyTier,
    target: Target,
    message: OutboundMessage,
    now: datetime,
    floors: LiftFloors | None = None,
) -> int:
    """Spam of `target` in the tier's window ending now, capped at the threshold."""
    floors = floors or LiftFloors.of(target)
    if tier.is_immediate:
        # The message itself; one whose block would already have run out starts none.
        floor = floors.for_rank(tier.rank)
        recent = tier.block_duration is None or message.sent_at + tier.block_duration > now
        after_floor = floor is None or message.sent_at > floor
        return int(message.is_spam and recent and after_floor)
    return spam_count_in_window(tier=tier, target=target, now=now, floors=floors)


def spam_count_in_window(
    *, tier: PolicyTier, target: Target, now: datetime, floors: LiftFloors
) -> int:
    """Spam of `target` in the tier's window ending now, after its lift floor, capped at
    the threshold: the work stays bounded by the threshold, whatever the history."""
    since = now - tier.window
    floor = floors.for_rank(tier.rank)
    if floor is not None and floor > since:
        since = floor
    window = target.spam().filter(sent_at__gt=since).order_by().values("pk")
    return window[: tier.threshold].count()


def _lift(block: Block, *, now: datetime, reason: str, **extra) -> bool:
    lifted = bool(
        Block.objects.filter(pk=block.pk, lifted_at__isnull=True).update(
            lifted_at=now, lift_reason=reason, **extra
        )
    )
    if lifted:
        blockstate_withdraw(blocks=[block])
    return lifted


def block_start(
    *,
    tier: PolicyTier,
    target: Target,
    count: int,
    message: OutboundMessage | None,
    now: datetime,
    replaces: Block | None = None,
) -> Block:
    """Start a block for `target`, lifting the weaker one it replaces."""
    if replaces is not None:
        _lift(replaces, now=now, reason=Block.LiftReason.ESCALATED)
    block = Block.objects.create(
        scope=target.scope,
        target=target.name,
        hosting_id=target.hosting_id,
        domain_id=target.domain_id,
        mailbox_id=target.mailbox_id,
        tier=tier,
        code=tier.code,
        rank=tier.rank,
        spam_count=count,
        started_at=now,
        ends_at=now + tier.block_duration if tier.block_duration is not None else None,
        complaint_ends_at=now + tier.complaint_period if tier.is_mail_abuse else None,
        trigger_message=message,
    )
    if replaces is not None:
        Block.objects.filter(pk=replaces.pk).update(replaced_by=block)
    blockstate_publish(block=block)
    if tier.notify_customer:
        from abuse.tasks import notify_block

        transaction.on_commit(lambda: _enqueue_notification(notify_block, block.pk))
    audit_record(
        action="block.started",
        hosting=target.hosting_id,
        subject=target.name,
        at=now,
        data={
            "code": tier.code,
            "scope": target.scope,
            "spam_count": count,
            "ends_at": block.ends_at.isoformat() if block.ends_at else None,
            "replaces": replaces.code if replaces else None,
            "message_id": message.pk if message else None,
        },
    )
    return block


def _enqueue_notification(task, block_id: int) -> None:
    try:
        task.delay(block_id)
    except Exception:  # broker down: the block stands; the notify-pending-blocks job sends it
        log.exception("could not queue the suspension e-mail of block %s", block_id)


def _standing_block(target: Target, now: datetime) -> Block | None:
    """The target's active block, after lifting one whose time ran out."""
    current = (
        Block.objects.select_for_update().unlifted().for_target(target.scope, target.name).first()
    )
    if current is not None and not current.is_active(now):
        _lift(current, now=now, reason=Block.LiftReason.EXPIRED)
        audit_record(
            action="block.expired",
            hosting=current.hosting_id,
            subject=current.target,
            at=now,
            data={"code": current.code},
        )
        return None
    return current


def spam_evaluate(*, message: OutboundMessage, now: datetime) -> list[Block]:
    """Start or escalate the blocks a newly recorded spam message calls for."""
    if not message.is_spam:
        return []
    tiers = policy_cached().tiers
    started = []
    for target in targets_of(message):
        current = _standing_block(target, now)
        floors = LiftFloors.of(target)
        for tier in (t for t in tiers if t.scope == target.scope):
            if current is not None and current.rank >= tier.rank:
                break  # a weaker code never shortens or replaces a stronger block
            count = spam_count(tier=tier, target=target, message=message, now=now, floors=floors)
            if count >= tier.threshold:
                started.append(
                    block_start(
                        tier=tier,
                        target=target,
                        count=count,
                        message=message,
                        now=now,
                        replaces=current,
                    )
                )
                break
    return started
