"""Feedback-loop complaints: a report is read (reputation/arf.py), matched to the message
it is about by its signed reference, else its Message-ID, else a queue id, and stored
once. The first complaint about a message makes it spam for the L-SPAM tiers, exactly as
a score over the threshold would (it can start a block); a report that matches nothing,
or cannot be read, is parked for staff with the reason. Nothing is dropped."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from abuse.counting import strongest
from abuse.engine import spams_evaluate
from hosting.counters import count
from hosting.models import Domain
from reputation.arf import Report, Unreadable, report_parse
from reputation.models import ParkedReport
from reputation.references import reference_verify
from tracking.models import Complaint, OutboundMessage, Status
from tracking.services import message_code_set
from webhooks.events import Event
from webhooks.services import webhook_event_emit

log = logging.getLogger(__name__)

# A complaint comes days after the message at most: it is looked for among the messages
# sent this long before the report says it arrived (or was sent) ...
LOOK_BEFORE = timedelta(days=3)
# ... and this long after (clocks disagree).
LOOK_AFTER = timedelta(days=1)
# A reference's time is Rspamd's scan; the message's is its push to the panel.
REFERENCE_SLACK = timedelta(hours=1)


class Outcome:
    COUNTED = "counted"  # matched, and it made its message spam
    MATCHED = "matched"  # matched; the message was spam already
    DUPLICATE = "duplicate"  # this very report was received before
    PARKED = "parked"  # kept for staff, with the reason


@dataclass(frozen=True)
class Received:
    outcome: str
    complaint: Complaint | None = None
    parked: ParkedReport | None = None
    reason: str = ""
    blocks: tuple[str, ...] = ()  # the codes the complaint started


@dataclass(frozen=True)
class Match:
    message: OutboundMessage | None
    matched_by: str = ""
    reason: str = ""


def _sent(qs):
    # Only a message that left can be complained about: a refused or rejected attempt
    # (a mail client retrying a blocked message sends the same Message-ID) never went.
    return qs.filter(status=Status.SENT).select_related("mailbox", "domain")


def _one(candidates: list[OutboundMessage], what: str) -> Match | None:
    if len(candidates) == 1:
        return None
    if not candidates:
        return Match(None, reason=f"no message sent with this {what} in the days around it")
    return Match(None, reason=f"{len(candidates)} messages have this {what}: ambiguous")


def message_match(*, report: Report, now: datetime) -> Match:
    """The message `report` is about, and by what; else why none."""
    key = settings.MESSAGE_REFERENCE_KEY
    if report.references and key:
        verified = [r for v in report.references if (r := reference_verify(v, key=key))]
        if not verified:
            return Match(None, reason="its reference header is forged, altered or another key's")
        ref = verified[0]
        found = list(
            _sent(OutboundMessage.objects).filter(
                queue_id=ref.queue_id,
                sent_at__gte=ref.at - REFERENCE_SLACK,
                sent_at__lte=ref.at + REFERENCE_SLACK,
            )[:2]
        )
        return _one(found, "reference") or Match(found[0], Complaint.MatchedBy.REFERENCE)
    anchor = report.arrived_at or report.sent_at or now
    window = _sent(OutboundMessage.objects).filter(
        sent_at__gte=anchor - LOOK_BEFORE, sent_at__lte=anchor + LOOK_AFTER
    )
    hosted = Domain.objects.filter(name=report.sender_domain).first()
    if hosted is not None:
        window = window.filter(hosting_id=hosted.hosting_id)
    if report.message_id:
        bare = report.message_id.strip().strip("<>")
        found = list(window.filter(message_id__in={report.message_id, bare, f"<{bare}>"})[:5])
        if found or not report.queue_ids:
            return _one(found, "Message-ID") or Match(found[0], Complaint.MatchedBy.MESSAGE_ID)
    for queue_id in report.queue_ids:
        found = list(window.filter(queue_id=queue_id)[:5])
        if found:
            return _one(found, "queue id") or Match(found[0], Complaint.MatchedBy.QUEUE_ID)
    return Match(None, reason="no message sent with this Message-ID or queue id around then")


def report_digest(raw: bytes) -> str:
    """What names a report however it is delivered: the SHA-256 of its body (its parts,
    the original included). Its header block is left out: each delivery adds lines of its
    own (Return-Path, Received, Delivered-To)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        _head, found, body = raw.partition(separator)
        if found and body.strip():
            return hashlib.sha256(body.replace(b"\r\n", b"\n")).hexdigest()
    return hashlib.sha256(raw).hexdigest()


def feedback_report_receive(*, raw: bytes, via: str, now: datetime | None = None) -> Received:
    """Store one feedback report once: a complaint about its message (counted as spam the
    first time), or parked for staff with the reason."""
    now = now or timezone.now()
    digest = report_digest(raw)
    with transaction.atomic():
        # The same report delivered twice at once: the second waits, then finds the first.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fbl:{digest}"])
        complaint = Complaint.objects.filter(digest=digest).first()
        parked = ParkedReport.objects.filter(digest=digest).first()
        if complaint is not None or parked is not None:
            count(f"complaints_{Outcome.DUPLICATE}")
            return Received(Outcome.DUPLICATE, complaint, parked)
        try:
            report = report_parse(raw)
        except Unreadable as exc:
            return _park(raw=raw, digest=digest, via=via, reason=str(exc), reporter="", now=now)
        except Exception as exc:  # a report the parser trips on: kept, never lost
            log.exception("feedback report unreadable")
            reason = f"could not be read: {type(exc).__name__}"
            return _park(raw=raw, digest=digest, via=via, reason=reason, reporter="", now=now)
        match = message_match(report=report, now=now)
        message = match.message
        if message is not None and message.domain_id is None:
            match = Match(None, reason="it is about a message the panel counts for no customer")
        if match.message is None:
            return _park(
                raw=raw,
                digest=digest,
                via=via,
                reason=match.reason,
                reporter=report.reporter,
                now=now,
            )
        return _complaint_record(report=report, match=match, digest=digest, now=now)


def _park(
    *, raw: bytes, digest: str, via: str, reason: str, reporter: str, now: datetime
) -> Received:
    parked = ParkedReport.objects.create(
        digest=digest, raw=raw, via=via, reason=reason[:500], reporter=reporter, received_at=now
    )
    log.warning("feedback report parked as #%s: %s", parked.pk, reason)
    count(f"complaints_{Outcome.PARKED}")
    return Received(Outcome.PARKED, parked=parked, reason=reason)


def _complaint_record(*, report: Report, match: Match, digest: str, now: datetime) -> Received:
    message = match.message
    assert message is not None
    # Serialised with the ingest of this domain's spam (ingest/recording.py takes the same
    # lock): the engine never counts one target twice at once.
    Domain.objects.select_for_update().filter(pk=message.domain_id).values("pk").first()
    # Counted once however many complaints: only the first flips the message.
    newly = bool(
        OutboundMessage.objects.filter(
            pk=message.pk, sent_at=message.sent_at, is_spam=False
        ).update(is_spam=True)
    )
    complaint = Complaint.objects.create(
        digest=digest,
        message=message,
        message_sent_at=message.sent_at,
        hosting_id=message.hosting_id,
        domain_id=message.domain_id,
        reporter=report.reporter,
        feedback_type=report.feedback_type,
        arrived_at=report.arrived_at,
        received_at=now,
        matched_by=match.matched_by,
        counted=newly,
    )
    codes: tuple[str, ...] = ()
    if newly:
        message.is_spam = True
        started = spams_evaluate(messages=[message], now=now).get(message.pk, [])
        if started:
            message_code_set(message=message, code=strongest(started).code)
            codes = tuple(b.code for b in started)
    webhook_event_emit(
        event=Event.MESSAGE_COMPLAINED,
        key=f"message.complained:{complaint.pk}",
        hosting_id=message.hosting_id,
        at=now,
        data={
            "message_id": message.pk,
            "sender": message.sender,
            "queue_id": message.queue_id,
            "sent_at": message.sent_at.isoformat(),
            "reporter": complaint.reporter,
            "feedback_type": complaint.feedback_type,
            "matched_by": complaint.matched_by,
            "counted": newly,
            "blocks": list(codes),
        },
    )
    outcome = Outcome.COUNTED if newly else Outcome.MATCHED
    count(f"complaints_{outcome}")
    return Received(outcome, complaint=complaint, blocks=codes)


def parked_report_retry(*, parked_id: int, now: datetime | None = None) -> Received:
    """Match a parked report again (its message may have been stored since): a complaint
    then, and the parked row goes; else it stays, with the new reason."""
    now = now or timezone.now()
    with transaction.atomic():
        parked = ParkedReport.objects.select_for_update().get(pk=parked_id)
        raw, via = bytes(parked.raw), parked.via
        ParkedReport.objects.filter(pk=parked.pk).delete()
        received = feedback_report_receive(raw=raw, via=via, now=now)
        if received.outcome == Outcome.PARKED:
            # Still parked: it keeps the time it first came in.
            ParkedReport.objects.filter(pk=received.parked.pk).update(
                received_at=parked.received_at
            )
    return received
