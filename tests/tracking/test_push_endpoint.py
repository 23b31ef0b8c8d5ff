from __future__ import annotations

import pytest
from django.test import override_settings

from ingest.events import ingest_event_process
from tests.factories import SystemUserFactory
from tests.tracking.faults import drop_this_connection, postgresql_unreachable
from tests.tracking.push import PASSWORD, PICKUP_33, auth, push_headers, raw_message
from tracking.models import IngestEvent, OutboundMessage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ingest_password")]
URL = "/api/ingest/rspamd/"


@pytest.fixture
def ingest_password(settings):
    settings.INGEST_PASSWORD = PASSWORD


def push(ingest, body: bytes, **headers):
    return ingest.generic("POST", URL, body, headers=headers)


def process_all() -> None:
    for pk in IngestEvent.objects.values_list("pk", flat=True):
        ingest_event_process(event_id=pk)


def test_a_push_is_stored_then_recorded_with_its_report(ingest, mailbox):
    response = push(ingest, raw_message(mailbox.address), **push_headers(sender=mailbox.address))

    assert response.status_code == 200
    assert response.content.startswith(b"queued ")
    process_all()
    message = OutboundMessage.objects.get()
    assert (message.mailbox, message.source, message.score, message.is_spam) == (
        mailbox,
        "mailbox",
        12.3,
        True,
    )
    assert (message.queue_id, message.rspamd_server, message.client_ip) == (
        "4NkQ2x0yZ",
        "mx-out-1",
        "203.0.113.9",
    )
    assert message.recipients == ["friend@example.org"]
    assert message.content.symbols["LWS_SUBJ_WIN"] == {
        "score": 3.0,
        "description": "",
        "options": ["WIN"],
    }
    assert bytes(message.content.raw) == raw_message(mailbox.address)
    assert not IngestEvent.objects.exists()


def test_the_same_push_twice_is_recorded_once(ingest, mailbox):
    for _ in range(2):
        push(ingest, raw_message(mailbox.address), **push_headers(sender=mailbox.address))

    process_all()

    assert OutboundMessage.objects.count() == 1


def test_a_website_script_counts_for_its_domain(ingest, mailbox):
    domain = mailbox.domain.name
    SystemUserFactory(hosting=mailbox.domain.hosting, uid=33)
    body = raw_message(
        f"www@{domain}",
        received=PICKUP_33,
        extra="X-PHP-Originating-Script: 33:contact.php\r\n",
    )
    push(ingest, body, **push_headers(sender=f"www@{domain}", user="unknown"))

    process_all()

    message = OutboundMessage.objects.get()
    assert (message.source, message.domain, message.mailbox) == ("website", mailbox.domain, None)
    assert message.script == "33:contact.php"


def test_an_unknown_sender_is_kept_for_staff(ingest, db):
    push(ingest, raw_message("x@elsewhere.example"), **push_headers(sender="x@elsewhere.example"))

    process_all()

    assert OutboundMessage.objects.get(hosting=None).sender == "x@elsewhere.example"


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"Authorization": auth(password="wrong")}, 401, b"authentication required"),
        ({"Authorization": ""}, 401, b"authentication required"),
        ({"X-Rspamd-rcpt": "[not json"}, 400, b"X-Rspamd-rcpt is not valid JSON"),
        ({"X-Rspamd-rcpt": '{"a": 1}'}, 400, b"X-Rspamd-rcpt must be a JSON list"),
        ({"X-Rspamd-symbols": "{{"}, 400, b"X-Rspamd-symbols is not valid JSON"),
        ({"X-Rspamd-symbols": "[1, 2]"}, 400, b"symbols entries must be objects with a name"),
        ({"X-Rspamd-score": "lots"}, 400, b"X-Rspamd-score is not a number"),
        ({"X-Rspamd-score": ""}, 400, b"X-Rspamd-score is not a number"),
        ({"X-Rspamd-action": ""}, 400, b"X-Rspamd-action is missing"),
        ({"X-Rspamd-from": "not an address"}, 400, b"X-Rspamd-from is not an address"),
        ({"X-Rspamd-ip": "999.1.1.1"}, 400, b"ip is not an IP address"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_one_line_reason(
    ingest, mailbox, change, status, reason, caplog
):
    headers = {**push_headers(sender=mailbox.address), **change}
    headers = {k: v for k, v in headers.items() if v != ""}

    response = push(ingest, raw_message(mailbox.address), **headers)

    assert response.status_code == status
    assert response.content.strip().startswith(reason)
    assert response.content.count(b"\n") == 1
    assert not IngestEvent.objects.exists()
    assert "ingest refused" in caplog.text


def test_a_missing_header_is_named(ingest, mailbox):
    headers = push_headers(sender=mailbox.address)
    del headers["X-Rspamd-symbols"]

    response = push(ingest, raw_message(mailbox.address), **headers)

    assert (response.status_code, response.content) == (400, b"X-Rspamd-symbols is missing\n")


def test_an_empty_body_is_refused(ingest, mailbox):
    response = push(ingest, b"", **push_headers(sender=mailbox.address))

    assert (response.status_code, response.content) == (
        400,
        b"empty body: the message is missing\n",
    )


@override_settings(INGEST_MAX_BYTES=1000)
def test_an_oversize_message_gets_413(ingest, mailbox):
    body = raw_message(mailbox.address) + b"x" * 1000

    response = push(ingest, body, **push_headers(sender=mailbox.address))

    assert response.status_code == 413
    assert not IngestEvent.objects.exists()


def test_only_post_is_accepted(ingest):
    assert ingest.get(URL).status_code == 405


def test_without_a_configured_password_nothing_is_accepted(ingest, settings, mailbox):
    settings.INGEST_PASSWORD = ""

    response = push(ingest, raw_message(mailbox.address), **push_headers(sender=mailbox.address))

    assert response.status_code == 401


def test_a_report_of_a_rejected_message_counts_as_spam(ingest, mailbox):
    headers = push_headers(sender=mailbox.address, score=0.5, action="reject")
    push(ingest, raw_message(mailbox.address), **headers)

    process_all()

    message = OutboundMessage.objects.get()
    assert (message.status, message.is_spam, message.code) == ("rejected", True, "L-SPAM00")


def test_a_push_skips_the_browsers_middleware(ingest, mailbox):
    response = push(ingest, raw_message(mailbox.address), **push_headers(sender=mailbox.address))
    page = ingest.get("/accounts/login/")

    assert response.status_code == 200
    # No session, CSRF or language cookie, no CSP, nothing that varies by cookie or language.
    assert not response.cookies
    assert "Content-Security-Policy" not in response.headers
    assert "Vary" not in response.headers
    assert "Content-Security-Policy" in page.headers  # what the panel's pages all get
    assert IngestEvent.objects.count() == 1


@override_settings(ALLOWED_HOSTS=["panel.example"])
def test_a_push_to_a_host_not_allowed_is_refused_with_400(ingest, mailbox):
    body, headers = raw_message(mailbox.address), push_headers(sender=mailbox.address)

    assert push(ingest, body, **headers).status_code == 400
    assert push(ingest, body, Host="panel.example", **headers).status_code == 200
    assert IngestEvent.objects.count() == 1


def test_an_unknown_ingest_url_is_404_and_a_get_405(ingest):
    assert ingest.post("/api/ingest/nothing/", b"x", content_type="text/plain").status_code == 404
    assert ingest.get(URL).status_code == 405
    assert not IngestEvent.objects.exists()


def test_a_push_is_one_statement_that_commits_by_itself(ingest, mailbox, django_assert_num_queries):
    body, headers = raw_message(mailbox.address), push_headers(sender=mailbox.address)
    push(ingest, body, **headers)  # the connection is open from here on

    # No health check, BEGIN or COMMIT of the ORM's: the INSERT goes on the raw connection.
    with django_assert_num_queries(0):
        response = push(ingest, body, **{**headers, "X-Rspamd-qid": "SECOND"})

    assert response.status_code == 200
    event = IngestEvent.objects.get(meta__qid="SECOND")
    assert bytes(event.raw) == body
    assert event.meta["from"] == mailbox.address


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_push_after_postgresql_dropped_the_connection_is_still_stored(ingest, mailbox):
    body, headers = raw_message(mailbox.address), push_headers(sender=mailbox.address)
    assert push(ingest, body, **headers).status_code == 200
    drop_this_connection()  # the persistent connection the next ack reuses

    response = push(ingest, body, **{**headers, "X-Rspamd-qid": "AFTER"})

    assert response.status_code == 200
    assert IngestEvent.objects.filter(meta__qid="AFTER").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_push_while_postgresql_is_down_gets_a_503_to_send_again_then_is_stored(
    ingest, mailbox, caplog
):
    body, headers = raw_message(mailbox.address), push_headers(sender=mailbox.address)
    assert push(ingest, body, **headers).status_code == 200

    with postgresql_unreachable():
        down = push(ingest, body, **{**headers, "X-Rspamd-qid": "DOWN"})

    assert down.status_code == 503
    assert down.headers["Retry-After"] == "30"
    assert down.content == b"database unavailable: nothing stored, send it again\n"
    assert "the database is unavailable" in caplog.text
    assert not IngestEvent.objects.filter(meta__qid="DOWN").exists()
    again = push(ingest, body, **{**headers, "X-Rspamd-qid": "DOWN"})
    assert again.status_code == 200
    assert IngestEvent.objects.filter(meta__qid="DOWN").count() == 1
