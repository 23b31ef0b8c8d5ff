"""Every write on blocks: start (and escalate), expire, staff lift, the customer's Unblock
mailboxes, and the early warning before a mail-abuse block. They all end a block through
one helper, `_blocks_lift`, which records the real end time whichever path noticed it and
keeps the block state of the mail servers in step."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from abuse.counting import Target
from abuse.models import Block, PolicyTier, SpamWarning, Unblock
from abuse.notifications import block_notification_queue, warning_notification_queue
from abuse.selectors import UnblockAvailability, unblock_availability
from enforcement.blockstate import blockstate_publish, blockstate_replace, blockstate_withdraw
from hosting.models import AuditEvent, Hosting
from hosting.services import audit_event, audit_record
from tracking.models import OutboundMessage
from webhooks.events import Event
from webhooks.services import Occurrence, webhook_event_emit, webhook_events_emit


class UnblockRefused(Exception):
    def __init__(self, availability: UnblockAvailability) -> None:
        self.availability = availability
        super().__init__(availability.explanation())

    @property
    def reason(self) -> str | None:
        return self.availability.reason

    @property
    def available_from(self) -> datetime | None:
        return self.availability.available_from


def _blocks_lift(
    *,
    blocks: list[Block],
    reason: str,
    now: datetime,
    user: AbstractBaseUser | None = None,
    unblock: Unblock | None = None,
) -> list[Block]:
    """End the blocks that still stand (one conditional UPDATE: a block another path lifted
    meanwhile is left alone) and withdraw them from the block state after commit; an
    expired block ends at its own end time, whoever notices. Returns those lifted."""
    ids = [b.pk for b in blocks]
    standing_ids = set(
        Block.objects.select_for_update()
        .filter(pk__in=ids, lifted_at__isnull=True)
        .values_list("pk", flat=True)
    )
    standing = [b for b in blocks if b.pk in standing_ids]
    if not standing:
        return []
    expired = reason == Block.LiftReason.EXPIRED
    Block.objects.filter(pk__in=standing_ids).update(
        lifted_at=F("ends_at") if expired else now,
        lift_reason=reason,
        lifted_by=user,
        unblock=unblock,
    )
    blockstate_withdraw(blocks=standing)
    if reason != Block.LiftReason.ESCALATED:  # that one is told as the stronger block's
        webhook_events_emit(
            occurrences=[
                Occurrence(
                    event=Event.BLOCK_LIFTED,
                    key=f"block.lifted:{b.pk}",
                    hosting_id=b.hosting_id,
                    at=b.ends_at if expired else now,
                    data={**_block_data(b), "reason": reason},
                )
                for b in standing
            ]
        )
    return standing


def _block_data(block: Block) -> dict:
    """A block as webhooks tell of it."""
    return {
        "block_id": block.pk,
        "code": block.code,
        "scope": block.scope,
        "target": block.target,
        "started_at": block.started_at.isoformat() if block.started_at else None,
        "ends_at": block.ends_at.isoformat() if block.ends_at else None,
    }


def block_start(
    *,
    tier: PolicyTier,
    target: Target,
    count: int,
    message: OutboundMessage | None,
    now: datetime,
    replaces: Block | None = None,
) -> Block:
    """Start a block for `target`, lifting the weaker one it replaces (escalation)."""
    if replaces is not None:
        _blocks_lift(blocks=[replaces], reason=Block.LiftReason.ESCALATED, now=now)
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
        transaction.on_commit(lambda: block_notification_queue(block.pk))
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
    started = Event.BLOCK_ESCALATED if replaces is not None else Event.BLOCK_STARTED
    data = {**_block_data(block), "spam_count": count}
    if replaces is not None:
        data["replaces"] = {"block_id": replaces.pk, "code": replaces.code}
    webhook_event_emit(
        event=started, key=f"{started}:{block.pk}", hosting_id=target.hosting_id, at=now, data=data
    )
    return block


def spam_warning_issue(*, tier: PolicyTier, target: Target, count: int, now: datetime) -> bool:
    """Record and queue the early-warning e-mail for `target` nearing `tier`, unless one
    was issued within that tier's window; False then. The engine runs under the domain's
    row lock, so two workers never both issue one."""
    recent = SpamWarning.objects.filter(
        scope=target.scope, target=target.name, code=tier.code, created_at__gt=now - tier.window
    )
    if recent.exists():
        return False
    warning = SpamWarning.objects.create(
        scope=target.scope,
        target=target.name,
        hosting_id=target.hosting_id,
        tier=tier,
        code=tier.code,
        spam_count=count,
        threshold=tier.threshold,
        created_at=now,
    )
    audit_record(
        action="spam.warning",
        hosting=target.hosting_id,
        subject=target.name,
        at=now,
        data={"code": tier.code, "spam_count": count, "threshold": tier.threshold},
    )
    transaction.on_commit(lambda: warning_notification_queue(warning.pk))
    return True


def blocks_expire(*, blocks: list[Block]) -> int:
    """End timed blocks whose time ran out, at their end time, audited; returns how many."""
    ended = _blocks_lift(blocks=blocks, reason=Block.LiftReason.EXPIRED, now=timezone.now())
    AuditEvent.objects.bulk_create(
        audit_event(
            action="block.expired",
            hosting=b.hosting_id,
            subject=b.target,
            at=b.ends_at,
            data={"code": b.code},
        )
        for b in ended
    )
    return len(ended)


def block_lift(
    *, block: Block, user: AbstractBaseUser, note: str = "", client_ip: str | None = None
) -> bool:
    """Lift one block as staff, audited with the staff member's address; False if it was
    no longer standing."""
    now = timezone.now()
    with transaction.atomic():
        lifted = _blocks_lift(blocks=[block], reason=Block.LiftReason.STAFF, now=now, user=user)
        if lifted:
            audit_record(
                action="block.lifted",
                actor=user,
                hosting=block.hosting_id,
                subject=block.target,
                at=now,
                data={"code": block.code, "note": note},
                client_ip=client_ip,
            )
    return bool(lifted)


def blocks_lift_expired(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """End the timed blocks whose time has run out, in batches; returns how many."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            # Locked, and skipped while another lift holds them.
            batch = list(
                Block.objects.expired(now)
                .select_for_update(skip_locked=True)
                .order_by("ends_at")
                .only("pk", "hosting_id", "scope", "target", "code", "ends_at")[:batch_size]
            )
            if not batch:
                return total
            total += blocks_expire(blocks=batch)
        if len(batch) < batch_size:
            return total


def hosting_unblock(
    *,
    hosting: Hosting,
    user: AbstractBaseUser | None,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> Unblock:
    """Lift every mail-abuse block of a hosting at once, if the 90-day rule and the
    complaint periods allow it; raises UnblockRefused with the reason otherwise."""
    now = now or timezone.now()
    with transaction.atomic():
        # The hosting row lock serialises concurrent clicks: the second one sees the first.
        locked = Hosting.objects.select_for_update().get(pk=hosting.pk)
        availability = unblock_availability(hosting=locked, now=now)
        if not availability.allowed:
            raise UnblockRefused(availability)
        unblock = Unblock.objects.create(
            hosting=locked,
            user=user,
            created_at=now,
            client_ip=client_ip,
            used_exceptional_grant=availability.uses_exceptional_grant,
            lifted=[{"code": b.code, "target": b.target} for b in availability.blocks],
        )
        _blocks_lift(
            blocks=availability.blocks,
            reason=Block.LiftReason.UNBLOCK,
            now=now,
            user=user,
            unblock=unblock,
        )
        if availability.uses_exceptional_grant:
            Hosting.objects.filter(pk=locked.pk).update(
                exceptional_unblock_granted_at=None, exceptional_unblock_granted_by=None
            )
        audit_record(
            action="hosting.unblocked",
            actor=user,
            hosting=locked,
            subject=locked.name,
            client_ip=client_ip,
            at=now,
            data={"lifted": unblock.lifted, "exceptional": unblock.used_exceptional_grant},
        )
        webhook_event_emit(
            event=Event.HOSTING_UNBLOCKED,
            key=f"hosting.unblocked:{unblock.pk}",
            hosting_id=locked.pk,
            at=now,
            data={
                "unblock_id": unblock.pk,
                "lifted": unblock.lifted,
                "exceptional": unblock.used_exceptional_grant,
                "by": "staff" if user is not None and user.is_staff else "customer",
            },
        )
    return unblock


def blockstate_rebuild() -> int:
    """Rewrite the Redis block state from PostgreSQL's standing blocks (the beat job and
    `manage.py blockstate_rebuild`: PostgreSQL is the truth); returns how many."""
    # Ended timed blocks are left out: the lift job may not have marked them yet.
    return blockstate_replace(blocks=Block.objects.active())
