"""What the customer's pages show of complaints: those of the last 30 days, the rate of
each domain, and the complaints received during each block's complaint period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from abuse.models import Block, Scope
from hosting.models import Hosting
from reputation.rates import MIN_DELIVERED, RATE, WINDOW, ComplaintRate, complaint_rates
from tracking.models import Complaint

SHOWN = 100


@dataclass(frozen=True)
class HostingComplaints:
    recent: list[Complaint]  # newest first, at most SHOWN
    total: int
    rates: list[ComplaintRate]
    days: int = WINDOW.days
    limit_percent: float = RATE * 100
    minimum: int = MIN_DELIVERED


def _target_of(complaint: Complaint, block: Block) -> bool:
    message = complaint.message
    if block.scope == Scope.DOMAIN:
        return complaint.domain_id == block.domain_id
    return message is not None and message.mailbox_id == block.mailbox_id


def hosting_complaints(
    *, hosting: Hosting, blocks: list[Block], now: datetime
) -> HostingComplaints:
    """The hosting's complaints of the last 30 days; each of `blocks` gets
    `complaints_during`, the complaints about its target since it started."""
    since = min([now - WINDOW, *(b.started_at for b in blocks)])
    rows = list(
        Complaint.objects.filter(hosting=hosting, received_at__gt=since, received_at__lte=now)
        .select_related("message", "domain")
        .order_by("-received_at", "-id")
    )
    for block in blocks:
        block.complaints_during = sum(
            1 for c in rows if c.received_at >= block.started_at and _target_of(c, block)
        )
    recent = [c for c in rows if c.received_at > now - WINDOW]
    domain_ids = list(hosting.domains.values_list("pk", flat=True))
    return HostingComplaints(
        recent=recent[:SHOWN],
        total=len(recent),
        rates=complaint_rates(now=now, domain_ids=domain_ids) if recent else [],
    )
