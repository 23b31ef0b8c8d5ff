from __future__ import annotations

import time

import httpx

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def message(sender: str, *, subject: str, body: str = "Hello", n: int = 0) -> bytes:
    return (
        f"From: {sender}\r\nTo: friend@example.org\r\nSubject: {subject}\r\n"
        f"Date: Sat, 28 Nov 2026 10:00:00 +0100\r\nMessage-ID: <m{n}@lws.test>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def spam(sender: str, n: int = 0) -> bytes:
    return message(
        sender,
        subject="URGENT: WIN a FREE prize, -50% offer from your bank",
        body="Claim now http://bit.ly/x",
        n=n,
    )


def mta_scan(rspamd_url: str, raw: bytes, *, sender: str, queue_id: str, user: str = "") -> dict:
    """Scan as the MTA's milter would: the exporter then pushes the result to the panel."""
    headers = [("From", sender), ("Rcpt", "friend@example.org"), ("IP", "203.0.113.9")]
    headers += [("Queue-Id", queue_id)] + ([("User", user)] if user else [])
    response = httpx.post(f"{rspamd_url}/checkv2", content=raw, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json()


def mta_send(rspamd_url: str, raw: bytes, *, sender: str, queue_id: str, tries: int = 8) -> int:
    """Like an MTA: a soft reject (the push failed, Rspamd deferred) is tried again later.
    Returns how many tries it took."""
    for attempt in range(1, tries + 1):
        verdict = mta_scan(rspamd_url, raw, sender=sender, queue_id=queue_id, user=sender)
        if verdict["action"] != "soft reject":
            return attempt
        time.sleep(0.5 * attempt)
    raise AssertionError(f"{queue_id} still deferred after {tries} tries")
