"""Reading a feedback-loop report (ARF, RFC 5965) with the standard library's `email`:
multipart/report with a message/feedback-report part, and the original message
(message/rfc822) or its headers (text/rfc822-headers). What the report says of the
message it is about, nothing more: matching is reputation/complaints.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime

from reputation.references import HEADER

# "by mx.example.net (Postfix) with ESMTPSA id 4ZkT3v0Zq5z9vG2": the queue ids of the
# Postfix hosts the message went through.
POSTFIX_ID = re.compile(r"\(Postfix\).*?\bid\s+([0-9A-Za-z]{5,32})\b", re.S | re.I)
DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+")


class Unreadable(ValueError):
    """Not a feedback report, or one that says nothing of a message."""


@dataclass(frozen=True)
class Report:
    reporter: str  # the mailbox provider's domain
    feedback_type: str
    arrived_at: datetime | None
    # What identifies the original message: its signed reference, Message-ID, the queue
    # ids of the Postfix hosts it went through, its sender and date.
    references: tuple[str, ...]
    message_id: str
    queue_ids: tuple[str, ...]
    sender_domain: str
    sent_at: datetime | None


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
        return "" if value is None else str(value).replace("\x00", "").strip()
    except Exception:  # a header so broken the parser cannot render it: as if absent
        return ""


def _headers(message: Message, name: str) -> list[str]:
    try:
        return [str(v).replace("\x00", "").strip() for v in message.get_all(name) or []]
    except Exception:
        return []


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if not 1990 <= at.year <= 2200:
        return None
    return at


def _domain(address: str) -> str:
    domain = parseaddr(address)[1].rpartition("@")[2].strip().rstrip(".").lower()
    return domain if DOMAIN.fullmatch(domain) else ""


def _parts(report: Message) -> tuple[Message | None, Message | None]:
    """The feedback-report part's fields and the original message (or its headers)."""
    feedback = original = None
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report" and feedback is None:
            feedback = _inner(part)
        elif kind == "message/rfc822" and original is None:
            original = _inner(part)
        elif kind == "text/rfc822-headers" and original is None:
            original = _headers_part(part)
    return feedback, original


def _inner(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):  # a part the parser left as text: read it as headers
        return _parse(payload.encode("utf-8", "surrogateescape"), headersonly=True)
    return None


def _headers_part(part: Message) -> Message | None:
    try:
        raw = part.get_payload(decode=True)
    except Exception:
        return None
    return _parse(raw, headersonly=True) if isinstance(raw, bytes) else None


def _parse(raw: bytes, *, headersonly: bool = False) -> EmailMessage | None:
    try:
        return BytesParser(policy=policy.default).parsebytes(raw, headersonly=headersonly)
    except Exception:
        return None


def report_parse(raw: bytes) -> Report:
    """What the report `raw` says of the message it is about; Unreadable, with the reason
    in words staff read, if it says nothing usable."""
    if not raw.strip():
        raise Unreadable("empty report")
    report = _parse(raw)
    if report is None:
        raise Unreadable("not a MIME message")
    try:
        feedback, original = _parts(report)
    except Exception as exc:  # a MIME structure the parser chokes on
        raise Unreadable(f"unreadable MIME structure: {type(exc).__name__}") from None
    if original is None:
        raise Unreadable("no original message or headers in the report")
    fields = feedback if feedback is not None else EmailMessage()
    reporting_mta = _header(fields, "Reporting-MTA").rpartition(";")[2].strip().lower()
    reporter = _domain(_header(report, "From")) or (
        reporting_mta if DOMAIN.fullmatch(reporting_mta) else ""
    )
    queue_ids: list[str] = []
    for received in _headers(original, "Received"):
        for found in POSTFIX_ID.findall(received):
            if found not in queue_ids:
                queue_ids.append(found)
    references = tuple(v for v in _headers(original, HEADER) if v)
    message_id = _header(original, "Message-ID")[:998]
    if not (references or message_id or queue_ids):
        raise Unreadable("the original names no reference, Message-ID or queue id")
    sender = _header(original, "From") or _header(fields, "Original-Mail-From")
    return Report(
        reporter=reporter[:255] or "unknown",
        feedback_type=_header(fields, "Feedback-Type").lower()[:32],
        arrived_at=_date(_header(fields, "Arrival-Date") or _header(fields, "Received-Date")),
        references=references,
        message_id=message_id,
        queue_ids=tuple(queue_ids[:10]),
        sender_domain=_domain(sender) or _domain(_header(original, "Return-Path")),
        sent_at=_date(_header(original, "Date")),
    )
