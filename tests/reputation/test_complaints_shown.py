"""Where a complaint shows: the email history and the message's page ("complaint from
<reporting domain>, <date>"), the Mail Abuse page (the complaints of the period, and of
each block's complaint period), the API's messages, and the HTTP endpoint that takes
reports fetched elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from abuse.models import Block
from api.scopes import Scope
from reputation.complaints import feedback_report_receive
from reputation.models import ParkedReport, Via
from tests.abuse.helpers import spam_at
from tests.factories import (
    CustomerAccountFactory,
    DomainFactory,
    MailboxFactory,
    UserFactory,
    sent_message,
)
from tests.harness.rspamd import REFERENCE_KEY
from tests.reputation.arf import generic, microsoft, original, signed, yahoo
from tracking.models import Complaint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _key(settings):
    settings.MESSAGE_REFERENCE_KEY = REFERENCE_KEY
    settings.FBL_MAX_BYTES = 200_000


@pytest.fixture
def marie():
    user = UserFactory(username="marie")
    account = CustomerAccountFactory(users=[user], language="en")
    domain = DomainFactory(hosting__customer=account, name="boulangerie.example")
    user.box = MailboxFactory(domain=domain, address="contact@boulangerie.example")
    return user


def _complained(box, *, at, queue_id="4ZkT3v0Zq5z9vG2", now=None):
    message = sent_message(box, at=at, queue_id=queue_id, subject="Offerta speciale")
    inner = original(sender=box.address, queue_id=queue_id, reference=signed(queue_id, at))
    feedback_report_receive(raw=yahoo(inner), via=Via.PIPE, now=now or at + timedelta(hours=1))
    return message


def test_the_history_and_the_message_page_say_who_complained_and_when(marie, client):
    hosting = marie.box.domain.hosting
    message = _complained(marie.box, at=timezone.now() - timedelta(hours=3))
    client.force_login(marie)
    with translation.override("en"):
        listing = client.get(reverse("tracking", args=[hosting.pk])).content.decode()
        detail = client.get(reverse("message", args=[hosting.pk, message.pk])).content.decode()
    assert "complaint from yahoo.test" in listing
    assert "complaint from yahoo.test" in detail and 'id="complaints"' in detail


def test_the_mail_abuse_page_lists_the_complaints_of_the_period_and_of_each_block(marie, client):
    now = timezone.now()
    spam_at(marie.box.address, now - timedelta(hours=2), 39)
    _complained(marie.box, at=now - timedelta(hours=1), now=now - timedelta(minutes=30))
    client.force_login(marie)
    with translation.override("en"):
        page = client.get(reverse("mail-abuse", args=[marie.box.domain.hosting_id]))
    html = page.content.decode()
    assert "L-SPAM20" in html and "Complaints since blocked" in html
    assert '<a href="#complaints">1</a>' in html
    assert "Complaints from recipients (last 30 days)" in html and "yahoo.test" in html
    assert "Offerta speciale" in html


def test_the_mail_abuse_page_says_when_there_is_no_complaint(marie, client):
    client.force_login(marie)
    with translation.override("en"):
        html = client.get(reverse("mail-abuse", args=[marie.box.domain.hosting_id])).content
    assert b'id="no-complaints"' in html


def test_the_api_lists_a_message_with_its_complaints(marie, make_api):
    message = _complained(marie.box, at=timezone.now() - timedelta(hours=3))
    api = make_api(scopes=[Scope.MESSAGES_READ])
    query = {"hosting": message.hosting_id, "queue_id": message.queue_id}
    (found,) = api.get("messages/", query).json()["results"]
    (complaint,) = found["complaints"]
    assert found["is_spam"] is True
    assert (complaint["reporter"], complaint["matched_by"], complaint["counted"]) == (
        "yahoo.test",
        "reference",
        True,
    )


def _post(client, key: str, body: bytes, content_type: str = "message/rfc822"):
    return client.post(
        "/api/v1/complaints/", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_the_http_endpoint_counts_keeps_and_refuses_as_the_pipe_does(marie, make_api, client):
    at = timezone.now() - timedelta(hours=2)
    message = sent_message(marie.box, at=at, queue_id="4ZkT3v0Zq5zHttp")
    report = microsoft(
        original(
            sender=marie.box.address,
            queue_id="4ZkT3v0Zq5zHttp",
            reference=signed("4ZkT3v0Zq5zHttp", at),
        )
    )
    api = make_api(scopes=[Scope.COMPLAINTS_WRITE])

    first = _post(client, api.key, report)
    assert first.status_code == 201, first.content
    assert (first.json()["outcome"], first.json()["message"]) == ("counted", message.pk)
    assert _post(client, api.key, report).json()["outcome"] == "duplicate"

    parked = _post(client, api.key, b"Subject: not a report\r\n\r\nhello", "text/plain")
    assert parked.status_code == 202 and parked.json()["reason"]
    assert ParkedReport.objects.count() == 1
    assert _post(client, api.key, b"").status_code == 400
    assert _post(client, api.key, b"x" * 200_001).status_code == 413
    assert Complaint.objects.count() == 1


def test_the_http_endpoint_wants_its_scope_and_a_token_for_every_customer(marie, make_api, client):
    report = yahoo(original(sender=marie.box.address, queue_id="4ZkT3v0Zq5zScope"))
    reader = make_api(scopes=[Scope.MESSAGES_READ])
    assert _post(client, reader.key, report).status_code == 403
    one_customer = make_api(
        scopes=[Scope.COMPLAINTS_WRITE], customers=[marie.box.domain.hosting.customer]
    )
    assert _post(client, one_customer.key, report).status_code == 403
    assert _post(client, "not-a-token", report).status_code in (401, 403)
    assert not ParkedReport.objects.exists()


@pytest.mark.parametrize(
    ("shape", "arrives", "code"),
    [
        (yahoo, timedelta(days=7, seconds=-1), "L-SPAM20"),
        (generic, timedelta(days=7, seconds=1), None),
    ],
)
def test_through_http_the_complaint_making_the_40th_spam_in_7_days_blocks_at_the_edge(
    marie, make_api, client, shape, arrives, code
):
    sent = datetime(2027, 2, 28, 23, 59, 59, tzinfo=UTC)  # the week crosses into March
    spam_at(marie.box.address, sent, 39)
    message = sent_message(marie.box, at=sent, queue_id="4ZkT3v0Zq5zEdge", message_id="<e@b>")
    inner = original(sender=marie.box.address, queue_id="4ZkT3v0Zq5zEdge", message_id="<e@b>")
    api = make_api(scopes=[Scope.COMPLAINTS_WRITE])
    with time_machine.travel(sent + arrives, tick=False):
        answer = _post(client, api.key, shape(inner, arrival=sent + timedelta(minutes=5)))
    assert answer.status_code == 201, answer.content
    assert answer.json()["message"] == message.pk
    assert answer.json()["blocks"] == ([code] if code else [])
    standing = Block.objects.active(sent + arrives).filter(target=marie.box.address).first()
    assert (standing.code if standing else None) == code
