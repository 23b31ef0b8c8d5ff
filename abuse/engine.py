"""The L-SPAM engine: for a newly recorded spam message, count its targets' spam in each
tier's window and start (or escalate to) the strongest block that fires.

Called by `ingest.recording` inside its transaction, with the messages' domain rows
locked, so two workers never evaluate one target at once."""

from __future__ import annotations

import math
from datetime import datetime

from abuse.counting import (
    LiftFloors,
    Target,
    policy_cached,
    spam_count,
    spam_counts_as_recorded,
    targets_of,
)
from abuse.models import Block, PolicyTier
from abuse.services import block_start, blocks_expire, spam_warning_issue
from tracking.models import OutboundMessage


def _standing_blocks(targets: list[Target], now: datetime) -> dict[Target, Block]:
    """The targets' active blocks (locked), after ending those whose time ran out."""
    rows = list(Block.objects.select_for_update().unlifted().of_targets(targets))
    expired = [b for b in rows if not b.is_active(now)]
    if expired:
        blocks_expire(blocks=expired)
    standing = {(b.scope, b.target): b for b in rows if b.is_active(now)}
    return {t: standing[(t.scope, t.name)] for t in targets if (t.scope, t.name) in standing}


def spams_evaluate(*, messages: list[OutboundMessage], now: datetime) -> dict[int, list[Block]]:
    """Start or escalate the blocks newly recorded spam calls for (the messages stored
    together, in the order sent), target by target: one read of the standing blocks and
    one of the lift floors for every target, one of a target's newest spam for all its
    messages, each judged on the counts as they stood when it was recorded, so a block
    starts at its exact message. Returns the blocks started, by message id."""
    tiers = policy_cached().tiers  # strongest first: the first that fires wins
    by_target: dict[Target, list[OutboundMessage]] = {}
    for message in messages:
        if message.is_spam:
            for target in targets_of(message):
                by_target.setdefault(target, []).append(message)
    started: dict[int, list[Block]] = {}
    standing = _standing_blocks(list(by_target), now)
    all_floors = LiftFloors.of_targets(by_target)
    for target, spams in by_target.items():
        current = standing.get(target)
        floors = all_floors[target]
        scoped = [t for t in tiers if t.scope == target.scope]
        # Every tier's count from one read (starting a block adds no spam to count).
        counted = spam_counts_as_recorded(
            tiers=scoped, target=target, now=now, floors=floors, batch=[m.pk for m in spams]
        )
        for message, counts in zip(spams, counted, strict=True):
            for tier in scoped:
                if current is not None and current.rank >= tier.rank:
                    break  # a weaker code never shortens or replaces a stronger block
                count = spam_count(
                    tier=tier,
                    target=target,
                    message=message,
                    now=now,
                    floors=floors,
                    counts=counts,
                )
                if count >= tier.threshold:
                    current = block_start(
                        tier=tier,
                        target=target,
                        count=count,
                        message=message,
                        now=now,
                        replaces=current,
                    )
                    started.setdefault(message.pk, []).append(current)
                    break
            _warn_if_near(tiers, target, current, counts, now)
    return started


# At this share of the next mail-abuse threshold the customer is warned (docs/rules.md).
WARNING_SHARE = 0.8


def _warn_if_near(
    tiers: tuple[PolicyTier, ...],
    target: Target,
    current: Block | None,
    counts: dict[int, int],
    now: datetime,
) -> None:
    """Warn the customer when the target reaches 80 % of its next mail-abuse threshold."""
    rank = current.rank if current is not None else -1
    ahead = [t for t in tiers if t.scope == target.scope and t.is_mail_abuse and t.rank > rank]
    if not ahead:
        return
    tier = min(ahead, key=lambda t: t.rank)
    count = counts[tier.pk]
    if math.ceil(WARNING_SHARE * tier.threshold) <= count < tier.threshold:
        spam_warning_issue(tier=tier, target=target, count=count, now=now)
