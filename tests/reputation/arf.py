"""Feedback reports as the mailbox providers send them (RFC 5965): Yahoo's (the original's
headers, text/rfc822-headers), Microsoft's JMRP (the whole original, message/rfc822, in a
report whose first part is a short text) and a generic sender's, built around a message
as the recipient received it."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid

from reputation.references import reference_sign
from tests.harness.rspamd import REFERENCE_KEY


def original(
    *,
    sender: str,
    recipient: str = "someone@yahoo.test",
    subject: str = "Offerta speciale: -50 % su tutto",
    message_id: str | None = None,
    queue_id: str = "",
    reference: str | None = None,
    sent_at=None,
) -> bytes:
    """A message as it reached the recipient: our Postfix's Received line (with the queue
    id), the receiver's above it, our signed reference."""
    mail = EmailMessage(policy=policy.SMTP)
    if queue_id:
        mail["Received"] = (
            "from mx.lwsmail.test (mx.lwsmail.test [192.0.2.25]) by mta1.yahoo.test "
            "with ESMTPS id 7a8b9c; Mon, 07 Dec 2026 10:00:05 +0000"
        )
        mail["Received"] = (
            f"from [198.51.100.7] (unknown [198.51.100.7]) by mx.lwsmail.test (Postfix) "
            f"with ESMTPSA id {queue_id} for <{recipient}>; Mon, 07 Dec 2026 10:00:01 +0000"
        )
    if reference is not None:
        mail["X-LWS-Ref"] = reference
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    if sent_at is not None:
        mail["Date"] = format_datetime(sent_at)
    mail.set_content("Approfittane subito: è l'ultima occasione, già scontato.\n")
    return mail.as_bytes()


def signed(queue_id: str, at) -> str:
    return reference_sign(queue_id=queue_id, at=int(at.timestamp()), key=REFERENCE_KEY)


def _report(
    *,
    reporter: str,
    user_agent: str,
    inner: bytes,
    headers_only: bool,
    arrival=None,
    intro: str = "This is an email abuse report for an email message received.",
    extra_fields: str = "",
) -> bytes:
    report = EmailMessage(policy=policy.SMTP)
    report["From"] = f"{reporter.split('.')[0]} feedback <feedback@{reporter}>"
    report["To"] = "fbl@fbl.lwsmail.test"
    report["Subject"] = "FW: spam report"
    report["Message-ID"] = make_msgid(domain=reporter)
    report.set_type("multipart/report")
    report.set_param("report-type", "feedback-report")
    intro_part = EmailMessage(policy=policy.SMTP)
    intro_part.set_content(intro)
    feedback = EmailMessage(policy=policy.SMTP)
    fields = (
        f"Feedback-Type: abuse\r\nUser-Agent: {user_agent}\r\nVersion: 1\r\n"
        f"Original-Mail-From: <bounce@lwsmail.test>\r\nReporting-MTA: dns; mail.{reporter}\r\n"
        + (f"Arrival-Date: {format_datetime(arrival)}\r\n" if arrival is not None else "")
        + extra_fields
    )
    feedback.set_payload(fields)
    feedback["Content-Type"] = "message/feedback-report"
    original_part = EmailMessage(policy=policy.SMTP)
    if headers_only:
        head = inner.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        original_part.set_payload(head.decode("utf-8", "replace"))
        original_part["Content-Type"] = "text/rfc822-headers"
    else:
        parsed = BytesParser(policy=policy.SMTP).parsebytes(inner)
        original_part.set_content(parsed)
    report.attach(intro_part)
    report.attach(feedback)
    report.attach(original_part)
    return report.as_bytes()


def yahoo(inner: bytes, *, arrival=None) -> bytes:
    return _report(
        reporter="yahoo.test",
        user_agent="Yahoo!-Mail-Feedback/2.0",
        inner=inner,
        headers_only=True,
        arrival=arrival,
    )


def microsoft(inner: bytes, *, arrival=None) -> bytes:
    return _report(
        reporter="outlook.test",
        user_agent="Microsoft JMRP",
        inner=inner,
        headers_only=False,
        arrival=arrival,
        intro="This is a Junk Mail Reporting Program (JMRP) report.",
    )


def generic(inner: bytes, *, arrival=None) -> bytes:
    return _report(
        reporter="isp.test",
        user_agent="SomeGenerator/1.0",
        inner=inner,
        headers_only=False,
        arrival=arrival,
        extra_fields="Source-IP: 192.0.2.25\r\nReported-Domain: example.test\r\n",
    )
