from __future__ import annotations

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
