"""The L-SPAM engine: for a newly recorded spam message, count its targets' spam in each
tier's window and start (or escalate to) the strongest block that fires.

Called by `ingest.recording.message_record` inside its transaction, with the message's
domain row locked, so two workers never evaluate one target at once."""

from __future__ import annotations

from datetime import datetime

from abuse.counting import LiftFloors, Target, policy_cached, spam_count, targets_of
from abuse.models import Block
from abuse.services import block_start, blocks_expire
from tracking.models import OutboundMessage


def _standing_block(target: Target, now: datetime) -> Block | None:
    """The target's active block (locked), after ending one whose time ran out."""
    current = (
        Block.objects.select_for_update().unlifted().for_target(target.scope, target.name).first()
    )
    if current is not None and not current.is_active(now):
        blocks_expire(blocks=[current])
        return None
    return current


def spam_evaluate(*, message: OutboundMessage, now: datetime) -> list[Block]:
    """Start or escalate the blocks a newly recorded spam message calls for."""
    if not message.is_spam:
        return []
    tiers = policy_cached().tiers  # strongest first: the first that fires wins
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
