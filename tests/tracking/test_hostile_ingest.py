"""A sender writes the headers we ingest: no message of theirs stops, garbles or loses another."""

from __future__ import annotations

import http.client
from urllib.parse import urlparse

import pytest

from ingest.events import ingest_event_create, ingest_event_process, ingest_events_retry
from tests.tracking.push import PASSWORD, auth, push_headers, raw_message
from tracking.models import IngestEvent, OutboundMessage

URL = "/api/ingest/rspamd/"


@pytest.fixture
def ingest_password(settings):
    settings.INGEST_PASSWORD = PASSWORD


def wsgi(text: str) -> str:
    """A header value as a WSGI server hands it over: its raw UTF-8 bytes read as Latin-1."""
    return text.encode("utf-8").decode("latin-1")


def push(ingest, body: bytes, **headers):
    return ingest.generic("POST", URL, body, headers=headers)


def good_pushes(ingest, mailbox, n: int = 10) -> None:
    for i in range(n):
        headers = push_headers(sender=mailbox.address, qid=f"GOOD{i}", score=1.0)
        assert push(ingest, raw_message(mailbox.address), **headers).status_code == 200


POISON = {
    "NUL in Message-ID": ({}, "Message-ID: <a\x00b@example.org>\r\n"),
    "NUL in X-PHP-Originating-Script": ({}, "X-PHP-Originating-Script: 33:evil\x00.php\r\n"),
    "NUL in Subject with subject unknown": (
        {"X-Rspamd-subject": "unknown"},
        "X-Extra: 1\r\nSubject: WIN\x00 big\r\n",
    ),
    "RFC 2047 NUL in Subject": (
        {"X-Rspamd-subject": "unknown"},
        "X-Extra: 1\r\nSubject: =?utf-8?q?WIN=00big?=\r\n",
    ),
    "NUL in To with rcpt unknown": (
        {"X-Rspamd-rcpt": "unknown"},
        "X-Extra: 1\r\nTo: victim\x00@example.org\r\n",
    ),
}


@pytest.mark.django_db
@pytest.mark.usefixtures("ingest_password")
@pytest.mark.parametrize("case", POISON, ids=list(POISON))
def test_a_poisonous_push_never_holds_back_the_good_ones_after_it(ingest, mailbox, case):
    change, extra = POISON[case]
    headers = {**push_headers(sender=mailbox.address, qid="POISON"), **change}
    assert push(ingest, raw_message(mailbox.address, extra=extra), **headers).status_code == 200
    good_pushes(ingest, mailbox)

    # The oldest pending event's task claims the whole batch, the poison first.
    ingest_event_process(event_id=IngestEvent.objects.order_by("id").first().pk)

    stored = set(OutboundMessage.objects.values_list("queue_id", flat=True))
    assert {f"GOOD{i}" for i in range(10)} <= stored
    assert "POISON" in stored  # stored too, its text cleaned of what PostgreSQL refuses
    poison = OutboundMessage.objects.get(queue_id="POISON")
    assert "\x00" not in poison.subject + poison.message_id + poison.script
    assert "\x00" not in "".join(poison.recipients)
    assert not IngestEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("ingest_password")
def test_an_event_that_cannot_be_recorded_is_parked_with_its_error_and_the_rest_go_through(
    ingest, mailbox
):
    # An event whose stored data no longer makes sense (written by hand, or by an old
    # version): recording it fails whatever happens, so retrying is pointless.
    broken = IngestEvent.objects.create(
        kind=IngestEvent.Kind.PUSH, meta={"score": "not a number"}, raw=b"Subject: x\r\n\r\n"
    )
    good_pushes(ingest, mailbox)

    assert ingest_event_process(event_id=broken.pk) == 10

    broken.refresh_from_db()
    assert broken.parked_at is not None and broken.attempts == 1
    assert "ValueError" in broken.last_error
    assert OutboundMessage.objects.count() == 10
    # Parked events are not claimed again by anyone's batch.
    good_pushes(ingest, mailbox, 1)
    assert ingest_event_process(event_id=IngestEvent.objects.pending().get().pk) == 1
    assert IngestEvent.objects.get() == broken


@pytest.mark.django_db
def test_staff_retry_puts_a_parked_event_back_in_the_queue(
    mailbox, django_capture_on_commit_callbacks
):
    meta = {"from": mailbox.address, "rcpt": ["a@example.org"], "user": mailbox.address}
    meta |= {"qid": "R1", "server": "s", "ip": None, "score": 1.0, "action": "no action"}
    meta |= {"subject": "hello", "symbols": {}}
    event = IngestEvent.objects.create(kind="push", meta=meta, raw=b"Subject: hello\r\n\r\n")
    IngestEvent.objects.filter(pk=event.pk).update(parked_at="2026-11-01T00:00:00Z")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert ingest_events_retry(event_ids=[event.pk]) == 1
    assert len(callbacks) == 1  # the task is queued once the change is committed

    assert ingest_event_process(event_id=event.pk) == 1
    assert OutboundMessage.objects.get().queue_id == "R1"


@pytest.mark.django_db
@pytest.mark.usefixtures("ingest_password")
def test_accented_subjects_sent_as_raw_utf8_are_stored_intact(ingest, mailbox):
    subjects = {"FR": "Réduction exceptionnelle : 50 % sur vos commandes", "IT": "Già pagata?"}
    for qid, subject in subjects.items():
        headers = {
            **push_headers(sender=mailbox.address, qid=qid),
            "X-Rspamd-subject": wsgi(subject),
        }
        assert push(ingest, raw_message(mailbox.address), **headers).status_code == 200

    for pk in IngestEvent.objects.values_list("pk", flat=True):
        ingest_event_process(event_id=pk)

    stored = dict(OutboundMessage.objects.values_list("queue_id", "subject"))
    assert stored == subjects


@pytest.mark.django_db
@pytest.mark.usefixtures("ingest_password")
def test_a_subject_that_is_not_utf8_keeps_what_is_readable(ingest, mailbox):
    headers = {**push_headers(sender=mailbox.address), "X-Rspamd-subject": "Caf\xe9 gratuit"}
    assert push(ingest, raw_message(mailbox.address), **headers).status_code == 200
    ingest_event_process(event_id=IngestEvent.objects.get().pk)

    assert OutboundMessage.objects.get().subject == "Caf\ufffd gratuit"


@pytest.mark.django_db
@pytest.mark.usefixtures("ingest_password")
@pytest.mark.parametrize("field", ["X-Rspamd-from", "X-Rspamd-user", "X-Rspamd-rcpt"])
def test_an_identity_field_that_is_not_utf8_is_refused(ingest, mailbox, field):
    value = "\xff\xfealice@" + mailbox.domain.name
    if field == "X-Rspamd-rcpt":
        value = '["' + value + '"]'
    headers = {**push_headers(sender=mailbox.address), field: value}

    response = push(ingest, raw_message(mailbox.address), **headers)

    assert (response.status_code, response.content) == (
        400,
        f"{field} is not valid UTF-8\n".encode(),
    )
    assert not IngestEvent.objects.exists()


@pytest.mark.django_db
def test_a_scan_without_rcpt_or_with_a_nul_in_its_queue_id_is_refused(mailbox):
    from ingest.events import scan_meta
    from ingest.parsing import InvalidReport

    with pytest.raises(InvalidReport, match="printable ASCII"):
        scan_meta(sender=mailbox.address, recipients=["a@b.c"], user="", ip=None, queue_id="Q\x00")
    event_id = ingest_event_create(
        kind="scan",
        meta=scan_meta(sender=mailbox.address, recipients=["a@b.c"], user="", ip=None, queue_id=""),
        raw=b"x",
    )
    assert IngestEvent.objects.filter(pk=event_id, kind="scan").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_chunked_push_is_told_to_send_a_length(live_server, settings, mailbox):
    settings.INGEST_PASSWORD = PASSWORD
    url = urlparse(live_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = push_headers(sender=mailbox.address)
    headers["Authorization"] = auth()
    conn.putrequest("POST", URL)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    body = raw_message(mailbox.address)
    conn.send(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")

    response = conn.getresponse()

    assert (response.status, response.read()) == (
        411,
        b"send the message with a Content-Length, not chunked\n",
    )
    assert not IngestEvent.objects.exists()
