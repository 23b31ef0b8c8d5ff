"""The message store's PostgreSQL partitions: the history four weeks each by send time, the
72-hour content an hour each by expiry.

Retention and the content sweep drop whole partitions, so their cost does not depend on
how much is stored, and a partition is detached concurrently first: no lock stops the
writes into the partitions in use. Partitions are created ahead by a beat job, and on
demand for a message whose partition is missing (an old one handed over to scan, a job
that did not run). On SQLite (the demo) the tables are plain and nothing here runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

log = logging.getLogger(__name__)

# One advisory lock key for every change to the partitions (creating one twice at once
# would fail on the catalogue's unique index).
LOCK = 0x6C77_7370_6172  # "lwspar"
MESSAGES_AHEAD = timedelta(weeks=4)
# Content expires 72 hours after sending, and a message may be dated up to a day ahead.
CONTENT_AHEAD = timedelta(hours=98)


@dataclass(frozen=True)
class Scheme:
    """How one table is cut: by which column, in steps of how long, from which origin."""

    table: str
    column: str
    step: timedelta
    origin: datetime
    stamp: str  # strftime format of the partition's start, in its name

    def start(self, at: datetime) -> datetime:
        """The start of the partition that holds `at`."""
        steps = (at.astimezone(UTC) - self.origin) // self.step
        return self.origin + steps * self.step

    def name(self, start: datetime) -> str:
        return f"{self.table}_p{start:{self.stamp}}"

    def starts(self, since: datetime, until: datetime) -> list[datetime]:
        """The starts of every partition that holds a moment in [since, until]."""
        first, out = self.start(since), []
        while first <= until:
            out.append(first)
            first += self.step
        return out

    def start_of(self, name: str) -> datetime | None:
        """The start a partition's name says, None for a table not named by this scheme."""
        prefix = f"{self.table}_p"
        if not name.startswith(prefix):
            return None
        try:
            start = datetime.strptime(name[len(prefix) :], self.stamp).replace(tzinfo=UTC)
        except ValueError:
            return None
        return start if self.start(start) == start else None


# Four weeks from a Monday 00:00 UTC (1970-01-05 was a Monday). Fewer partitions plan
# faster (PostgreSQL plans every partition of a query it cannot prune, ~0.15 ms each, and
# the identity lookup cannot be pruned); longer ones keep history up to four weeks past
# the retention period.
MESSAGES = Scheme(
    "tracking_outboundmessage",
    "sent_at",
    timedelta(weeks=4),
    datetime(1970, 1, 5, tzinfo=UTC),
    "%Y%m%d",
)
CONTENTS = Scheme(
    "tracking_messagecontent",
    "expires_at",
    timedelta(hours=1),
    datetime(1970, 1, 1, tzinfo=UTC),
    "%Y%m%d%H",
)


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def _existing(scheme: Scheme) -> dict[str, bool]:
    """The partitions of the scheme's table: name -> whether a detach is still pending."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, i.inhdetachpending FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = %s::regclass
            """,
            [scheme.table],
        )
        return dict(cursor.fetchall())


def partition_create(cursor, scheme: Scheme, start: datetime, parent: str = "") -> None:
    """Create the partition of `parent` (the scheme's table) that starts at `start`."""
    # CREATE TABLE ... PARTITION OF would lock the whole table against every write;
    # attaching an empty table locks it only against other partition changes. A table of
    # that name that is no partition is one a stopped retention run detached: attached
    # again, it keeps its rows until retention drops it properly.
    name, parent = scheme.name(start), parent or scheme.table
    cursor.execute(
        f'CREATE TABLE IF NOT EXISTS "{name}" '
        f'(LIKE "{parent}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMPRESSION)'
    )
    cursor.execute(
        f'ALTER TABLE "{parent}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
        [start, start + scheme.step],
    )


_MISSING = """
    SELECT n FROM unnest(%s::text[]) n WHERE NOT EXISTS (
      SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = %s::regclass AND c.relname = n)
"""


def partitions_cover(*, scheme: Scheme, moments: Iterable[datetime]) -> int:
    """Create the partitions that `moments` fall in where they are missing (in the caller's
    transaction, if any); returns how many were created."""
    if not partitioned():
        return 0
    wanted = {scheme.name(scheme.start(m)): scheme.start(m) for m in moments}
    if not wanted:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_MISSING, [list(wanted), scheme.table])
        missing = [row[0] for row in cursor.fetchall()]
        if not missing:
            return 0
        with transaction.atomic():
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK])
            cursor.execute(_MISSING, [missing, scheme.table])  # another may have made them
            missing = sorted(row[0] for row in cursor.fetchall())
            for name in missing:
                partition_create(cursor, scheme, wanted[name])
    if missing:
        log.info("created partition(s) %s", ", ".join(missing))
    return len(missing)


def partitions_ensure(*, now: datetime) -> int:
    """Create the partitions the coming four weeks' messages and hours' content need; returns
    how many were created."""
    created = partitions_cover(scheme=MESSAGES, moments=MESSAGES.starts(now, now + MESSAGES_AHEAD))
    return created + partitions_cover(
        scheme=CONTENTS, moments=CONTENTS.starts(now, now + CONTENT_AHEAD)
    )


def _detached(scheme: Scheme) -> list[str]:
    """Tables named as the scheme's partitions that are no partition any more: a run that
    stopped between detaching one and dropping it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
            "AND relnamespace = 'public'::regnamespace AND starts_with(relname, %s)",
            [f"{scheme.table}_p"],
        )
        return [row[0] for row in cursor.fetchall()]


def _how(pending: bool) -> str:
    if pending:  # an earlier run's CONCURRENTLY did not finish
        return "FINALIZE"
    # CONCURRENTLY cannot run inside a transaction (the tests' own, say).
    return "" if connection.in_atomic_block else "CONCURRENTLY"


def partitions_drop(
    *, scheme: Scheme, before: datetime, unlink: Callable[[str], None] | None = None
) -> list[str]:
    """Drop every partition that holds only moments before `before`; returns their names.
    `unlink(name)` runs between detaching a partition and dropping it, on its rows.

    Outside a transaction each is detached CONCURRENTLY (PostgreSQL waits for the readers
    that may still see it, and blocks no write meanwhile) before it is dropped; a detach
    that an earlier run left pending, or a table it detached but did not drop, is finished."""
    if not partitioned():
        return []
    attached = _existing(scheme)
    dropped = []
    for name in sorted({*attached, *_detached(scheme)}):
        start = scheme.start_of(name)
        if start is None or start + scheme.step > before:
            continue
        with connection.cursor() as cursor:
            if name in attached:  # else an earlier run detached it: only the drop is left
                cursor.execute(
                    f'ALTER TABLE "{scheme.table}" DETACH PARTITION "{name}" {_how(attached[name])}'
                )
            with transaction.atomic():
                if unlink is not None:
                    unlink(name)
                cursor.execute(f'DROP TABLE "{name}"')
        dropped.append(name)
    if dropped:
        log.info("dropped partition(s) %s", ", ".join(dropped))
    return dropped


def partitions_list(*, scheme: Scheme) -> list[tuple[datetime, datetime]]:
    """The ranges the scheme's partitions hold, oldest first (staff's view of the store)."""
    if not partitioned():
        return []
    starts = sorted(s for s in map(scheme.start_of, _existing(scheme)) if s is not None)
    return [(s, s + scheme.step) for s in starts]
