from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from abuse.models import Block, PolicyTier
from hosting.models import Domain, SystemUser
from tests.factories import record_spam

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def tier(code: str) -> PolicyTier:
    return PolicyTier.objects.get(code=code)


def standing(target: str) -> Block | None:
    return Block.objects.unlifted().filter(target=target).first()


def standing_code(target: str) -> str | None:
    block = standing(target)
    return block.code if block else None


def spam_at(sender: str, at: datetime, count: int = 1, **kwargs) -> None:
    with time_machine.travel(at, tick=False):
        for _ in range(count):
            record_spam(sender, **kwargs)


def website_uid(domain: str) -> int:
    """The system uid of the hosting that owns `domain` (one is created if it has none)."""
    hosting_id = Domain.objects.get(name=domain).hosting_id
    user = SystemUser.objects.filter(hosting_id=hosting_id).first()
    return (user or SystemUser.objects.create(hosting_id=hosting_id, uid=30000 + hosting_id)).uid


def website_spam_at(domain: str, at: datetime, count: int = 1) -> None:
    """Spam from a website script of `domain`: counts for the domain tiers only."""
    spam_at(f"www-data@{domain}", at, count, script="/var/www/contact.php", uid=website_uid(domain))


def spread(sender: str, start: datetime, span: timedelta, count: int, **kwargs) -> datetime:
    """`count` spam evenly over `span` from `start`; returns the time of the last one."""
    step = span / max(count, 1)
    at = start
    for i in range(count):
        at = start + step * i
        spam_at(sender, at, **kwargs)
    return at
