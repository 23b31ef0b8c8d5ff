"""How long message history is kept (docs/rules.md, "Retention"): `MESSAGE_HISTORY_DAYS`,
never fewer than the longest tier window plus 10 days, so that counting never loses a spam
it needs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from abuse.models import PolicyTier
from tracking.deliveries import deliveries_expire
from tracking.services import messages_expire

MARGIN = timedelta(days=10)


class RetentionTooShort(ValueError):
    pass


def history_days() -> int:
    return settings.MESSAGE_HISTORY_DAYS


def retention_minimum_days() -> int:
    """The fewest days of history the policy table allows: its longest window plus 10."""
    longest = PolicyTier.objects.aggregate(longest=Max("window"))["longest"] or timedelta(0)
    return (longest + MARGIN).days + (1 if (longest + MARGIN).seconds else 0)


def retention_problem(days: int | None = None) -> str | None:
    """Why the history setting cannot be used, or None."""
    days = history_days() if days is None else days
    minimum = retention_minimum_days()
    if days < minimum:
        return (
            f"MESSAGE_HISTORY_DAYS={days} is too short: the longest window of the policy table "
            f"plus 10 days needs at least {minimum} days of history."
        )
    return None


def message_history_expire(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete the message history older than MESSAGE_HISTORY_DAYS (a partition of four weeks once
    all of it is older); refuses (RetentionTooShort) a setting that would lose spam the
    counting needs."""
    problem = retention_problem()
    if problem is not None:
        raise RetentionTooShort(problem)
    before = (now or timezone.now()) - timedelta(days=history_days())
    # The delivery results go with their messages (their count is not returned: callers
    # report messages).
    deliveries_expire(before=before, batch_size=batch_size)
    return messages_expire(before=before, batch_size=batch_size)
