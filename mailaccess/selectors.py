"""Read-only questions about the logins of a customer's mailboxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from hosting.models import Hosting
from mailaccess.models import AccessAttempt
from tracking.selectors import decode_cursor, keyset_cursor

__all__ = ["AttemptFilters", "decode_cursor", "hosting_attempts"]

PAGE_SIZE = 50


@dataclass(frozen=True)
class AttemptFilters:
    login: str = ""
    result: str = ""
    protocol: str = ""
    since: date | None = None
    until: date | None = None


def hosting_attempts(
    *,
    hosting: Hosting,
    filters: AttemptFilters,
    after: tuple[datetime, int] | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[AccessAttempt], str | None]:
    """One page of the logins on the hosting's mailboxes and domains, newest first, after
    `after` (keyset pagination: a deep page costs what the first one does)."""
    qs = AccessAttempt.objects.filter(hosting=hosting)
    if filters.login:
        qs = qs.filter(login=filters.login.strip().lower())
    if filters.result:
        qs = qs.filter(result=filters.result)
    if filters.protocol:
        qs = qs.filter(protocol=filters.protocol)
    tz = timezone.get_current_timezone()
    if filters.since:
        qs = qs.filter(at__gte=datetime.combine(filters.since, time.min, tz))
    if filters.until:
        qs = qs.filter(at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tz))
    if after is not None:
        at, pk = after
        qs = qs.filter(Q(at__lt=at) | Q(at=at, pk__lt=pk))
    page = list(qs.order_by("-at", "-id")[: limit + 1])
    last = page[limit - 1] if len(page) > limit else None
    next_cursor = keyset_cursor(last.at, last.pk) if last is not None else None
    return page[:limit], next_cursor
