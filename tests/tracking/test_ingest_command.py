from __future__ import annotations

import mailbox as mbox_lib
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from django.core.management import CommandError, call_command

from ingest.events import ingest_event_process
from tests.tracking.mail import message, spam
from tracking.models import IngestEvent, OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def process_all() -> None:
    for pk in IngestEvent.objects.values_list("pk", flat=True):
        ingest_event_process(event_id=pk)


def test_a_directory_of_messages_is_scanned_and_recorded(ingest_settings, mailbox, tmp_path):
    for n in range(3):
        (tmp_path / f"{n}.eml").write_bytes(spam(mailbox.address, n))

    call_command("ingest", str(tmp_path), user=mailbox.address, sent_at="2026-11-20T10:00:00+01:00")
    process_all()

    messages = OutboundMessage.objects.filter(mailbox=mailbox)
    assert messages.count() == 3
    assert {m.sent_at for m in messages} == {datetime(2026, 11, 20, 9, 0, tzinfo=UTC)}
    assert all(m.score > 8 for m in messages)


def test_an_mbox_is_read_message_by_message_and_importing_twice_counts_once(
    ingest_settings, mailbox, tmp_path
):
    box = mbox_lib.mbox(tmp_path / "sent.mbox")
    for n in range(4):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = mailbox.address, "a@example.org", f"Note {n}"
        msg["Message-ID"], msg["Date"] = f"<n{n}@x>", "Fri, 20 Nov 2026 10:00:00 +0100"
        msg.set_content("Hello")
        box.add(msg)
    box.close()

    for _ in range(2):
        call_command("ingest", str(tmp_path / "sent.mbox"), user=mailbox.address)
        process_all()

    assert OutboundMessage.objects.filter(mailbox=mailbox).count() == 4


def test_a_missing_path_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no such file or directory"):
        call_command("ingest", "/nonexistent/sent.mbox", user="a@b.fr")


def test_a_bad_user_or_date_is_a_clear_error(tmp_path, db):
    (tmp_path / "m.eml").write_bytes(message("a@b.fr", subject="x"))
    with pytest.raises(CommandError, match="--user is not an address"):
        call_command("ingest", str(tmp_path), user="nobody")
    with pytest.raises(CommandError, match="needs a time zone"):
        call_command("ingest", str(tmp_path), user="a@b.fr", sent_at="2026-11-20T10:00:00")
    assert not IngestEvent.objects.exists()


def test_messages_that_cannot_be_queued_are_named_and_the_exit_is_non_zero(tmp_path, db, capsys):
    (tmp_path / "good.eml").write_bytes(message("a@b.fr", subject="x"))
    (tmp_path / "norcpt.eml").write_bytes(b"Subject: no recipients\r\n\r\nbody\r\n")

    with pytest.raises(CommandError, match="1 message"):
        call_command("ingest", str(tmp_path), user="a@b.fr")

    err = capsys.readouterr().err
    assert "norcpt.eml: rcpt is missing" in err
    assert IngestEvent.objects.count() == 1
