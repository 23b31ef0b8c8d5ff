"""Rspamd's multimap reads the panel's blocked-senders map in Redis (deploy/rspamd):
what never meets the policy service (sendmail from a website) is refused there too."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from abuse.models import Block
from hosting.redis import client
from ingest.events import ingest_event_create, ingest_event_process, scan_meta
from tests.abuse.helpers import spam_at, website_spam_at
from tests.factories import DomainFactory, MailboxFactory
from tests.tracking.mail import message as plain
from tests.tracking.mail import mta_scan
from tracking.models import IngestEvent, OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _empty_block_state(redis_client):
    client.cache_clear()
    redis_client.flushdb()


def process_pushes() -> None:
    """The worker's part, done in the test."""
    for pk in IngestEvent.objects.values_list("pk", flat=True):
        ingest_event_process(event_id=pk)


def scan(rspamd, sender: str, *, qid: str, user: str = "") -> dict:
    raw = plain(sender, subject="Lunch on Friday?")
    return mta_scan(rspamd.url, raw, sender=sender, queue_id=qid, user=user)


def test_a_blocked_mailbox_is_refused_by_rspamd_with_its_code(ingest_settings, rspamd, mailbox):
    spam_at(mailbox.address, timezone.now() - timedelta(hours=30), 40)

    verdict = scan(rspamd, mailbox.address, qid="B1", user=mailbox.address)

    assert verdict["action"] == "reject"
    assert "L-SPAM20" in verdict["symbols"]["LWS_BLOCKED"]["options"]
    assert verdict["messages"]["smtp_message"] == (
        "L-SPAM20: sending suspended for mail abuse, see the Mail Abuse page"
    )


def test_a_website_script_of_a_blocked_domain_is_refused(ingest_settings, rspamd, mailbox):
    website_spam_at(mailbox.domain.name, timezone.now(), 30)

    verdict = scan(rspamd, f"www-data@{mailbox.domain.name.upper()}", qid="B2")

    assert verdict["action"] == "reject"
    block = Block.objects.active().get(target=mailbox.domain.name)
    ends = f"{block.ends_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    option = f"L-SPAM11 until {ends}"
    assert option in verdict["symbols"]["LWS_BLOCKED"]["options"]
    # A timed block says until when, never "mail abuse".
    assert verdict["messages"]["smtp_message"] == (
        f"L-SPAM11: sending suspended until {ends}, change the password of this address"
    )


def test_an_authenticated_user_of_a_blocked_domain_is_refused(ingest_settings, rspamd, mailbox):
    other = MailboxFactory(domain=mailbox.domain)
    website_spam_at(mailbox.domain.name, timezone.now(), 30)

    verdict = scan(rspamd, "someone@elsewhere.example", qid="B3", user=other.address)

    assert verdict["action"] == "reject"
    [option] = verdict["symbols"]["LWS_BLOCKED"]["options"]
    assert option.startswith("L-SPAM11 until ")


def test_a_refused_message_is_recorded_as_blocked_and_never_counts_as_spam(
    ingest_settings, rspamd, mailbox
):
    spam_at(mailbox.address, timezone.now(), 1)  # L-SPAM00 for 20 minutes
    for n in range(25):  # the mail client retries; L-SPAM10 would be 20 spam
        scan(rspamd, mailbox.address, qid=f"R{n}", user=mailbox.address)
    process_pushes()

    refused = OutboundMessage.objects.filter(queue_id__startswith="R")
    assert refused.count() == 25
    assert set(refused.values_list("status", "code", "is_spam")) == {("blocked", "L-SPAM00", False)}
    assert list(Block.objects.values_list("code", flat=True)) == ["L-SPAM00"]


def test_senders_that_are_not_blocked_pass(ingest_settings, rspamd, mailbox):
    DomainFactory(name="other-customer.example")
    website_spam_at("other-customer.example", timezone.now(), 30)
    assert Block.objects.active().filter(target="other-customer.example").exists()

    verdict = scan(rspamd, mailbox.address, qid="P1", user=mailbox.address)

    assert verdict["action"] == "no action"
    assert not any(name.startswith("LWS_BLOCKED") for name in verdict["symbols"])


def test_the_panels_own_scan_of_an_already_sent_message_ignores_the_map(ingest_settings, mailbox):
    spam_at(mailbox.address, timezone.now() - timedelta(hours=30), 40)
    meta = scan_meta(
        sender=mailbox.address,
        recipients=["friend@example.org"],
        user=mailbox.address,
        ip="203.0.113.9",
        queue_id="OLD1",
    )
    raw = plain(mailbox.address, subject="Minutes of Tuesday's meeting")
    event_id = ingest_event_create(kind=IngestEvent.Kind.SCAN, meta=meta, raw=raw)

    ingest_event_process(event_id=event_id)

    message = OutboundMessage.objects.get(queue_id="OLD1")
    assert (message.status, message.is_spam, message.code) == ("sent", False, "")
