"""The access log's partitions: a week each by attempt time, dropped whole after
ACCESS_LOG_DAYS (tracking/partitions.py does the work, for any table cut this way)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracking.partitions import Scheme, partitions_cover, partitions_drop

ATTEMPTS = Scheme(
    "mailaccess_accessattempt",
    "at",
    timedelta(weeks=1),
    datetime(1970, 1, 5, tzinfo=UTC),  # a Monday
    "%Y%m%d",
)
AHEAD = timedelta(weeks=2)


def access_log_partitions_maintain(*, now: datetime, keep_days: int) -> tuple[int, list[str]]:
    """Create the coming weeks' partitions and drop those past `keep_days`: (created, dropped)."""
    created = partitions_cover(scheme=ATTEMPTS, moments=ATTEMPTS.starts(now, now + AHEAD))
    return created, partitions_drop(scheme=ATTEMPTS, before=now - timedelta(days=keep_days))
