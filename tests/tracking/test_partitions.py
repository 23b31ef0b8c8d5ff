"""The message store's partitions: made ahead, made on demand, dropped without stopping the
writers, and a message stored once whichever partitions its copies would fall in."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, connections, transaction

from ingest.recording import message_record
from tests.concurrency import run_concurrently
from tests.factories import message_data
from tracking.models import MessageContent, OutboundMessage
from tracking.partitions import (
    CONTENTS,
    MESSAGES,
    partitions_cover,
    partitions_drop,
    partitions_list,
)
from tracking.services import messages_expire, messages_store
from tracking.tasks import ensure_partitions

FAR = datetime(2031, 3, 12, 9, 30, tzinfo=UTC)  # no partition exists for it yet


def old_partition_detached(mailbox) -> tuple[datetime, str]:
    """A message 500 days old whose partition a retention run detached, then stopped."""
    old = datetime.now(UTC) - timedelta(days=500)
    message_record(data=message_data(sender=mailbox.address, sent_at=old))
    name = MESSAGES.name(MESSAGES.start(old))
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{MESSAGES.table}" DETACH PARTITION "{name}"')
    return old, name


def names(scheme) -> set[str]:
    return {scheme.name(start) for start, _end in partitions_list(scheme=scheme)}


@pytest.mark.django_db
def test_the_beat_job_makes_the_coming_four_weeks_and_98_hours_ahead():
    with time_machine.travel(FAR, tick=False):
        created = ensure_partitions()
        assert ensure_partitions() == 0  # nothing left to make

    parts = {MESSAGES.name(s) for s in MESSAGES.starts(FAR, FAR + timedelta(weeks=4))}
    hours = {CONTENTS.name(s) for s in CONTENTS.starts(FAR, FAR + timedelta(hours=98))}
    assert created == len(parts) + len(hours) == 2 + 99
    assert parts <= names(MESSAGES) and hours <= names(CONTENTS)
    # FAR's partition began on the Monday before, a multiple of four weeks from 1970-01-05.
    assert "tracking_outboundmessage_p20310310" in parts


@pytest.mark.django_db
def test_a_message_whose_partition_is_missing_still_lands(mailbox):
    assert MESSAGES.name(MESSAGES.start(FAR)) not in names(MESSAGES)

    with time_machine.travel(FAR, tick=False):
        result = message_record(data=message_data(sender=mailbox.address))
    old = message_record(
        data=message_data(sender=mailbox.address, sent_at=datetime(2000, 1, 1, tzinfo=UTC))
    )

    assert result.message.pk and old.message.pk
    assert OutboundMessage.objects.filter(sent_at=FAR).exists()
    assert MessageContent.objects.filter(message=result.message).exists()
    assert OutboundMessage.objects.filter(sent_at__year=2000).exists()  # no content: too old


@pytest.mark.django_db
def test_a_duplicate_pushed_thirty_days_later_is_stored_once(mailbox):
    first = message_data(sender=mailbox.address, queue_id="4NkQ2x0yZ")
    again = replace(first, sent_at=first.sent_at + timedelta(days=30))
    assert MESSAGES.start(first.sent_at) != MESSAGES.start(again.sent_at)

    assert message_record(data=first).message.pk
    assert not message_record(data=again).created
    assert messages_store(datas=[again, first], now=again.sent_at) == []
    assert OutboundMessage.objects.filter(queue_id="4NkQ2x0yZ").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_copies_of_one_message_across_a_partition_boundary_stored_at_once_give_one_row(mailbox):
    # Sunday 23:59:59 and Monday 00:00:00: two partitions, one identity.
    monday = MESSAGES.start(datetime.now(UTC)) + MESSAGES.step
    base = message_data(sender=mailbox.address, queue_id="Q-boundary")
    copies = [replace(base, sent_at=monday - timedelta(seconds=1 - i % 2)) for i in range(6)]

    results = run_concurrently(lambda i: message_record(data=copies[i]), 6)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.created for r in results) == 1
    assert OutboundMessage.objects.filter(queue_id="Q-boundary").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_dropping_an_old_partition_never_stops_a_writer_of_the_current_one(mailbox):
    old = datetime.now(UTC) - timedelta(days=500)
    message_record(data=message_data(sender=mailbox.address, sent_at=old))
    writing = threading.Event()
    more_written = threading.Event()
    finish = threading.Event()

    def writer() -> None:
        try:
            with transaction.atomic():  # a transaction open on the current week
                message_record(data=message_data(sender=mailbox.address))
                writing.set()
                # Written while the drop waits for this very transaction to end.
                assert finish.wait(30)
                message_record(data=message_data(sender=mailbox.address))
                more_written.set()
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert writing.wait(30)
    dropping = threading.Thread(
        target=lambda: (
            messages_expire(before=MESSAGES.start(old) + MESSAGES.step),
            connections.close_all(),
        )
    )
    dropping.start()
    dropping.join(1.5)
    assert dropping.is_alive()  # the detach waits for the open transaction to end...
    finish.set()
    assert more_written.wait(10), "the writer was blocked by the drop"  # ...not the writer
    thread.join(30)
    dropping.join(60)
    assert not dropping.is_alive()

    assert not OutboundMessage.objects.filter(sent_at=old).exists()
    assert OutboundMessage.objects.count() == 2
    assert MESSAGES.name(MESSAGES.start(old)) not in names(MESSAGES)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_partition_a_stopped_run_detached_but_did_not_drop_goes_at_the_next_run(mailbox):
    old, name = old_partition_detached(mailbox)

    assert partitions_drop(scheme=MESSAGES, before=MESSAGES.start(old) + MESSAGES.step) == [name]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        assert cursor.fetchone()[0] is None


@pytest.mark.django_db
def test_a_table_a_stopped_run_detached_is_attached_again_when_a_message_needs_it(mailbox):
    old, _name = old_partition_detached(mailbox)

    assert partitions_cover(scheme=MESSAGES, moments=[old]) == 1
    message_record(data=message_data(sender=mailbox.address, sent_at=old + timedelta(hours=1)))
    assert OutboundMessage.objects.filter(sent_at__lt=old + timedelta(days=1)).count() == 2


@pytest.mark.django_db
def test_the_command_makes_them_and_says_what_is_there(capsys):
    call_command("ensure_partitions")
    out = capsys.readouterr().out
    assert "partition(s) created." in out
    assert "history: " in out and "content: " in out


@pytest.mark.django_db
def test_dropping_a_partition_locks_no_other_table_than_its_own(mailbox):
    # A foreign key on a partition would lock the hostings, domains and mailboxes it names
    # exclusively for the drop (every page reads them): the message tables have none.
    old = datetime.now(UTC) - timedelta(days=500)
    message_record(data=message_data(sender=mailbox.address, sent_at=old))

    assert messages_expire(before=MESSAGES.start(old) + MESSAGES.step) == 1

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_backend_pid() AND l.mode = 'AccessExclusiveLock'"
        )
        locked = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
            "(conrelid::regclass::text LIKE 'tracking\\_%%' OR confrelid::regclass::text "
            "LIKE 'tracking\\_outboundmessage%%')"
        )
        foreign_keys = cursor.fetchone()[0]
    # Within a transaction (this test) the detach is not concurrent and holds the parent.
    assert locked <= {MESSAGES.table}, locked
    assert foreign_keys == 0


@pytest.mark.django_db
def test_a_deleted_mailbox_leaves_its_messages_unlinked_without_a_database_constraint(mailbox):
    message_record(data=message_data(sender=mailbox.address))
    address = mailbox.address

    mailbox.delete()  # the ORM unlinks them: there is no constraint to do it
    kept = OutboundMessage.objects.get(sender=address)
    assert kept.mailbox_id is None and kept.domain_id is not None


@pytest.mark.django_db
def test_raw_messages_are_compressed_with_lz4_in_events_and_in_old_and_new_partitions(mailbox):
    from ingest.events import ingest_event_create

    raw = b"Subject: lz4\r\n\r\n" + b"the same line of a long newsletter\r\n" * 400
    event_id = ingest_event_create(kind="push", meta={}, raw=raw)
    now = message_record(data=replace(message_data(sender=mailbox.address), raw=raw))
    with time_machine.travel(FAR, tick=False):  # a partition made after the migration
        later = message_record(data=replace(message_data(sender=mailbox.address), raw=raw))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(raw) FROM tracking_ingestevent WHERE id = %s",
            [event_id],
        )
        assert cursor.fetchone() == ("lz4",)
        cursor.execute(
            "SELECT message_id, pg_column_compression(raw) FROM tracking_messagecontent "
            "WHERE message_id IN (%s, %s) ORDER BY message_id",
            [now.message.pk, later.message.pk],
        )
        assert cursor.fetchall() == [(now.message.pk, "lz4"), (later.message.pk, "lz4")]
    assert bytes(MessageContent.objects.get(message=later.message).raw) == raw


@pytest.mark.django_db
def test_noting_a_messages_code_looks_in_its_own_partition_alone(mailbox):
    from django.test.utils import CaptureQueriesContext

    from tracking.services import message_code_set

    now = datetime.now(UTC)
    for days in (60, 120, 400):  # history in partitions of its own
        message_record(
            data=message_data(sender=mailbox.address, sent_at=now - timedelta(days=days))
        )
    message = message_record(data=message_data(sender=mailbox.address)).message
    assert len(partitions_list(scheme=MESSAGES)) > 3

    with CaptureQueriesContext(connection) as queries:
        message_code_set(message=message, code="L-SPAM20")

    (update,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {update}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    touched = set(re.findall(rf"{MESSAGES.table}_p\d+", plan))
    assert touched == {MESSAGES.name(MESSAGES.start(message.sent_at))}, plan
    message.refresh_from_db()
    assert message.code == "L-SPAM20"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_identity_lookup_keeps_its_plan_yet_sees_partitions_made_and_dropped_since(mailbox):
    from tracking.services import _stored_identities

    now = datetime.now(UTC)
    recent = message_record(data=message_data(sender=mailbox.address)).message
    for _ in range(3):  # the session's plan, made and kept (tracking/migrations/0007)
        assert _stored_identities([recent.identity]) == {recent.identity}
    before = set(partitions_list(scheme=MESSAGES))

    old = message_record(
        data=message_data(sender=mailbox.address, sent_at=now - timedelta(days=600))
    ).message

    assert set(partitions_list(scheme=MESSAGES)) > before
    wanted = [recent.identity, old.identity, "0" * 64]
    assert _stored_identities(wanted) == {recent.identity, old.identity}
    assert messages_expire(before=now - timedelta(days=500)) >= 1
    assert _stored_identities(wanted) == {recent.identity}
