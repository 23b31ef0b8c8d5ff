"""Requests shaped exactly as Rspamd 3.4's metadata_exporter (http, meta_headers) sends them."""

from __future__ import annotations

import base64
import json

PASSWORD = "s3cret-ingest"
SPAM_SYMBOLS = [
    {"name": "LWS_SUBJ_WIN", "score": 3.0, "weight": 3.0, "options": ["WIN"]},
    {"name": "BAYES_SPAM", "score": 5.1, "weight": 5.1, "options": ["99.00%"]},
    {"name": "MIME_GOOD", "score": -0.1, "weight": -0.1, "options": ["text/plain"]},
]


def auth(user: str = "rspamd", password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def push_headers(
    *,
    sender: str,
    user: str | None = None,
    qid: str = "4NkQ2x0yZ",
    score: float = 12.3,
    action: str = "add header",
    rcpt: list[str] | None = None,
    symbols: list[dict] | None = None,
) -> dict[str, str]:
    return {
        "Authorization": auth(),
        "Content-Type": "text/plain",
        "X-Rspamd-from": sender,
        "X-Rspamd-user": user if user is not None else sender,
        "X-Rspamd-qid": qid,
        "X-Rspamd-rcpt": json.dumps(rcpt or ["friend@example.org"]),
        "X-Rspamd-score": f"{score}",
        "X-Rspamd-action": action,
        "X-Rspamd-symbols": json.dumps(symbols if symbols is not None else SPAM_SYMBOLS),
        "X-Rspamd-subject": "WIN a prize",
        "X-Rspamd-ip": "203.0.113.9",
        "X-Rspamd-rspamd_server": "mx-out-1",
        "X-Rspamd-fuzzy": "[]",
        "X-Rspamd-scan_time": "12",
    }


# What Postfix's pickup writes on mail a website script submits with sendmail as uid 33.
PICKUP_33 = (
    "Received: by web1.example.net (Postfix, from userid 33)\r\n"
    "\tid 4NkQ2x0yZ; Sun, 29 Nov 2026 10:00:00 +0100 (CET)\r\n"
)


def raw_message(
    sender: str, subject: str = "WIN a prize", extra: str = "", received: str = ""
) -> bytes:
    return (
        f"{received}From: {sender}\r\nTo: friend@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <m1@example.org>\r\n{extra}\r\nClick here\r\n"
    ).encode()
