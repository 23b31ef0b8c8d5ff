"""The scan path and the push path against a real Rspamd."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from abuse.models import Block
from abuse.services import blocks_lift_expired
from ingest.events import ingest_event_create, ingest_event_process, scan_meta
from tests.tracking.mail import GTUBE, message, mta_scan, spam
from tests.workers import celery_worker, wait_until
from tracking.models import IngestEvent, OutboundMessage

# Tests that use the live server are transactional: the seeded policy table is restored.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def scan_event(raw: bytes, *, sender: str, user: str = "", qid: str = "SCAN1") -> int:
    meta = scan_meta(
        sender=sender, recipients=["friend@example.org"], user=user, ip="203.0.113.9", queue_id=qid
    )
    return ingest_event_create(kind=IngestEvent.Kind.SCAN, meta=meta, raw=raw)


def test_a_scanned_message_is_recorded_with_rspamds_own_report(ingest_settings, mailbox):
    raw = spam(mailbox.address)
    event_id = scan_event(raw, sender=mailbox.address, user=mailbox.address)

    assert ingest_event_process(event_id=event_id) == 1

    message = OutboundMessage.objects.get(queue_id="SCAN1")
    assert (message.mailbox, message.source, message.queue_id) == (mailbox, "mailbox", "SCAN1")
    symbols = message.content.symbols
    assert symbols["LWS_SUBJ_WIN"]["description"] == "Prize or winning wording in the subject"
    assert symbols["LWS_SUBJ_WIN"]["score"] == 3.0
    assert message.score == pytest.approx(sum(s["score"] for s in symbols.values()), abs=0.01)
    assert message.subject.startswith("URGENT: WIN")
    assert not IngestEvent.objects.exists()


def test_a_plain_message_is_not_spam(ingest_settings, mailbox):
    raw = message(mailbox.address, subject="Minutes of Tuesday's meeting")
    event_id = scan_event(raw, sender=mailbox.address, user=mailbox.address)

    ingest_event_process(event_id=event_id)
    message_ = OutboundMessage.objects.get(queue_id="SCAN1")

    assert message_.score < 8 and not message_.is_spam
    assert not Block.objects.exists()


def test_gtube_is_rejected_by_rspamd_and_counts_as_spam(ingest_settings, mailbox):
    raw = message(mailbox.address, subject="test", body=GTUBE)
    event_id = scan_event(raw, sender=mailbox.address, user=mailbox.address)

    ingest_event_process(event_id=event_id)
    message_ = OutboundMessage.objects.get(queue_id="SCAN1")

    assert (message_.action, message_.status, message_.is_spam) == ("reject", "rejected", True)
    assert message_.code == "L-SPAM00"


def test_rspamds_exporter_pushes_to_the_panel_and_a_real_worker_records_it(
    ingest_settings, rspamd, mailbox, redis_client, tmp_path
):
    redis_client.flushdb()
    with celery_worker(log=tmp_path / "worker.log"):
        verdict = mta_scan(
            rspamd.url,
            spam(mailbox.address),
            sender=mailbox.address,
            queue_id="PUSH1",
            user=mailbox.address,
        )
        assert verdict["action"] != "soft reject", rspamd.output()[-2000:]
        stored = wait_until(lambda: OutboundMessage.objects.filter(queue_id="PUSH1").exists())

    assert stored, (tmp_path / "worker.log").read_text()[-3000:]
    message_ = OutboundMessage.objects.get(queue_id="PUSH1")
    assert (message_.mailbox_id, message_.authenticated_user) == (mailbox.pk, mailbox.address)
    assert message_.score == pytest.approx(verdict["score"], abs=0.01)
    assert message_.rspamd_server == "127.0.0.1"  # the pushing Rspamd's address
    assert "LWS_SUBJ_WIN" in message_.content.symbols
    assert not IngestEvent.objects.exists()


def test_rspamd_defers_the_message_when_the_panel_refuses_the_push(
    ingest_settings, rspamd, mailbox
):
    ingest_settings.INGEST_PASSWORD = "not-what-rspamd-sends"

    verdict = mta_scan(rspamd.url, spam(mailbox.address), sender=mailbox.address, queue_id="D1")

    assert verdict["action"] == "soft reject"
    assert not IngestEvent.objects.exists()


def test_40_spam_over_a_week_through_the_real_path_give_l_spam20(ingest_settings, rspamd, mailbox):
    start = timezone.now() - timedelta(days=7)
    for n in range(40):
        with time_machine.travel(start + timedelta(hours=4 * n), tick=True):
            # Beat's lift job has long run: the ended L-SPAM00 is out of Rspamd's map.
            blocks_lift_expired()
            mta_scan(
                rspamd.url,
                spam(mailbox.address, n),
                sender=mailbox.address,
                queue_id=f"W{n}",
                user=mailbox.address,
            )
            # The worker's part, done here so that it runs at the travelled time.
            for pk in IngestEvent.objects.values_list("pk", flat=True):
                ingest_event_process(event_id=pk)

    codes = list(
        Block.objects.filter(target=mailbox.address).order_by("id").values_list("code", flat=True)
    )
    assert OutboundMessage.objects.filter(mailbox=mailbox, is_spam=True).count() == 40
    assert codes[-1] == "L-SPAM20"
    assert Block.objects.active().get(target=mailbox.address).code == "L-SPAM20"


def test_accented_french_and_italian_subjects_pushed_by_rspamd_read_back_intact(
    ingest_settings, rspamd, mailbox, client
):
    from email.header import Header

    from tests.factories import CustomerAccountFactory, UserFactory

    subjects = {
        "FR1": "Réduction exceptionnelle : -20 % sur la crème brûlée",
        "IT1": "Fattura già pagata, perché è ancora aperta?",
    }
    for n, (qid, subject) in enumerate(subjects.items()):
        # As a mail client writes it (RFC 2047); Rspamd pushes it decoded, as raw UTF-8.
        encoded = Header(subject, "utf-8").encode()
        raw = message(mailbox.address, subject=encoded, n=n)
        mta_scan(rspamd.url, raw, sender=mailbox.address, queue_id=qid, user=mailbox.address)
    for pk in IngestEvent.objects.values_list("pk", flat=True):
        ingest_event_process(event_id=pk)

    assert dict(OutboundMessage.objects.values_list("queue_id", "subject")) == subjects
    user = UserFactory(username="lucia")
    account = CustomerAccountFactory(users=[user])
    hosting = mailbox.domain.hosting
    hosting.customer = account
    hosting.save()
    client.force_login(user)
    page = client.get(f"/h/{hosting.pk}/tracking/").content.decode()
    for subject in subjects.values():
        assert subject in page
