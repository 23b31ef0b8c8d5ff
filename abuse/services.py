"""Writes on blocks: lifting them (staff, expiry) and the customer's Unblock mailboxes."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from abuse.blockstate import blockstate_withdraw
from abuse.models import Block, Unblock
from abuse.selectors import UnblockAvailability, unblock_availability
from lwsmail.models import AuditEvent, Hosting
from lwsmail.services import audit_event, audit_record


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


def block_lift(*, block: Block, user: AbstractBaseUser, note: str = "") -> bool:
    """Lift one block as staff, audited; False if it was no longer standing."""
    now = timezone.now()
    with transaction.atomic():
        changed = Block.objects.filter(pk=block.pk, lifted_at__isnull=True).update(
            lifted_at=now, lifted_by=user, lift_reason=Block.LiftReason.STAFF
        )
        if changed:
            blockstate_withdraw(blocks=[block])
            audit_record(
                action="block.lifted",
                actor=user,
                hosting=block.hosting_id,
                subject=block.target,
                at=now,
                data={"code": block.code, "note": note},
            )
    return bool(changed)


def blocks_lift_expired(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Mark timed blocks whose end has passed as lifted (expired), audited; returns how many."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            # Locked and still unlifted: no other lift can touch these rows until commit.
            batch = list(
                Block.objects.expired(now)
                .select_for_update(skip_locked=True)
                .order_by("ends_at")
                .only("pk", "hosting_id", "scope", "target", "code", "ends_at")[:batch_size]
            )
            if not batch:
                return total
            Block.objects.filter(pk__in=[b.pk for b in batch]).update(
                lifted_at=F("ends_at"), lift_reason=Block.LiftReason.EXPIRED
            )
            blockstate_withdraw(blocks=batch)
            AuditEvent.objects.bulk_create(
                audit_event(
                    action="block.expired",
                    hosting=b.hosting_id,
                    subject=b.target,
                    at=b.ends_at,
                    data={"code": b.code},
                )
                for b in batch
            )
        total += len(batch)
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
        Block.objects.filter(
            pk__in=[b.pk for b in availability.blocks], lifted_at__isnull=True
        ).update(
            lifted_at=now, lifted_by=user, lift_reason=Block.LiftReason.UNBLOCK, unblock=unblock
        )
        blockstate_withdraw(blocks=availability.blocks)
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
    return unblock
