"""Read-only questions about a customer's hostings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from abuse.counting import strongest
from abuse.models import Block, Scope
from hosting.models import AuditEvent, Hosting, Mailbox
from limits.selectors import HeldAddress


def hostings_overview(*, user) -> QuerySet[Hosting]:
    """The user's hostings with their domain names, mailbox counts and active blocks."""
    return (
        Hosting.objects.for_user(user)
        .annotate(mailbox_count=Count("domains__mailboxes", distinct=True))
        .prefetch_related(
            "domains",
            Prefetch(
                "blocks",
                queryset=Block.objects.active().order_by("target"),
                to_attr="active_blocks",
            ),
        )
        .order_by("name")
    )


@dataclass(frozen=True)
class AddressRow:
    mailbox: Mailbox
    block: Block | None  # the stronger of the address's own block and its domain's
    hold: HeldAddress | None = None  # refused as compromised (after any block)

    @property
    def offers_password_change(self) -> bool:
        return self.hold is not None or (self.block is not None and not self.block.is_mail_abuse)


def hosting_addresses(
    *,
    hosting: Hosting,
    holds: dict[str, HeldAddress] | None = None,
    now: datetime | None = None,
) -> list[AddressRow]:
    """Every mailbox of the hosting with the block that stops it, if any, and its hold."""
    holds = holds or {}
    now = now or timezone.now()
    blocks = Block.objects.active(now).filter(hosting=hosting)
    by_address = {b.target: b for b in blocks if b.scope == Scope.ADDRESS}
    by_domain = {b.domain_id: b for b in blocks if b.scope == Scope.DOMAIN}
    mailboxes = Mailbox.objects.filter(domain__hosting=hosting).select_related("domain")
    return [
        AddressRow(
            m,
            _enforced(by_address.get(m.address), by_domain.get(m.domain_id)),
            holds.get(m.address),
        )
        for m in mailboxes.order_by("domain__name", "address")
    ]


def _enforced(*blocks: Block | None) -> Block | None:
    # The block the mail server refuses with: the strongest standing one.
    return strongest(b for b in blocks if b is not None)


def hosting_suspended_mailboxes(*, hosting: Hosting) -> QuerySet[Mailbox]:
    """The hosting's mailboxes suspended by support (every login refused), oldest first."""
    return Mailbox.objects.filter(domain__hosting=hosting, suspended_at__isnull=False).order_by(
        "suspended_at", "address"
    )


def hosting_history(*, hosting: Hosting, page: str | int | None = 1, per_page: int = 50) -> Page:
    """What happened to the hosting, newest first, one page of it (a bad page number gives
    the nearest page): blocks, escalations, ends, unblocks, password changes, staff."""
    events = (
        AuditEvent.objects.filter(hosting=hosting)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
    return Paginator(events, per_page).get_page(page)
