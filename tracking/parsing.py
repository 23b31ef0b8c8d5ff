"""Turning what Rspamd says and what the message holds into `MessageData`.

Everything here is hostile input: broken MIME, unknown charsets, 8-bit headers, and
X-Rspamd-* headers from a misconfigured exporter must give a clear error or a best
effort, never a crash in the worker.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from typing import Any

UNKNOWN = "unknown"  # what Rspamd's exporter sends for an absent value
# Headers PHP and common CMS mailers add to mail sent by a website script.
SCRIPT_HEADERS = ("X-PHP-Originating-Script", "X-PHP-Script", "X-Source-Args", "X-Source")
ADDRESS_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class InvalidReport(ValueError):
    """A push or scan request that cannot be ingested; the message says why in one line."""


@dataclass(frozen=True)
class Headers:
    """What the message's own headers say (trusted only for display)."""

    subject: str
    message_id: str
    to: list[str]
    script: str


def _text(value: Any) -> str:
    try:
        return str(value or "").strip()
    except Exception:  # a header the policy cannot decode: keep what we can
        return ""


def parse_message(raw: bytes, *, headers_only: bool = True) -> tuple[EmailMessage, Headers]:
    """Parse raw bytes leniently (policy.default); defects are tolerated, not fatal.

    Recording needs the headers only; the body is parsed when someone opens the message."""
    parser = BytesHeaderParser if headers_only else BytesParser
    msg = parser(policy=policy.default).parsebytes(raw)

    def header(name: str) -> str:
        # `in` is a plain key lookup; `get` runs the header registry, so only when present.
        return _text(msg.get(name)) if name in msg else ""

    script = next((v[:500] for n in SCRIPT_HEADERS if (v := header(n))), "")
    mailer = header("X-Mailer")
    if not script and "phpmailer" in mailer.lower():
        script = mailer[:500]
    try:
        to = [a for _, a in getaddresses([header("To"), header("Cc")]) if a]
    except Exception:
        to = []
    return msg, Headers(
        subject=header("Subject").replace("\r", " ").replace("\n", " "),
        message_id=header("Message-ID"),
        to=to,
        script=script,
    )


def clean_address(value: str | None, *, field: str, required: bool = False) -> str:
    value = (value or "").strip().strip("<>").strip()
    if value in ("", UNKNOWN):
        if required:
            raise InvalidReport(f"{field} is missing")
        return ""
    if not ADDRESS_RE.match(value) or len(value) > 254:
        raise InvalidReport(f"{field} is not an address: {value[:80]!r}")
    return value.lower()


def json_header(value: str | None, *, field: str, kind: type) -> Any:
    if value in (None, ""):
        raise InvalidReport(f"{field} is missing")
    if value == UNKNOWN:
        return kind()
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise InvalidReport(f"{field} is not valid JSON: {exc.msg}") from None
    if not isinstance(parsed, kind):
        raise InvalidReport(f"{field} must be a JSON {kind.__name__}")
    return parsed


def float_header(value: str | None, *, field: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidReport(f"{field} is not a number: {str(value)[:40]!r}") from None
    if number != number or abs(number) > 1e6:
        raise InvalidReport(f"{field} is out of range")
    return number


def symbols_report(raw_symbols: Any) -> dict[str, dict[str, Any]]:
    """Normalise Rspamd's symbols (a list from the exporter, a mapping from /checkv2)."""
    items = raw_symbols.values() if isinstance(raw_symbols, dict) else raw_symbols
    report: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidReport("symbols entries must be objects with a name")
        options = item.get("options") or []
        report[item["name"][:128]] = {
            "score": float(item.get("score") or 0.0),
            "description": _text(item.get("description"))[:500],
            "options": [str(o)[:500] for o in options][:50] if isinstance(options, list) else [],
        }
    return report


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: list[str]
    user: str
    ip: str | None
    queue_id: str


def parse_ip(value: str | None) -> str | None:
    import ipaddress

    value = (value or "").strip()
    if value in ("", UNKNOWN):
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidReport(f"ip is not an IP address: {value[:60]!r}") from None


def parse_sent_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidReport(f"sent_at is not an ISO 8601 date: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise InvalidReport("sent_at needs a time zone (e.g. 2026-11-28T10:00:00+01:00)")
    return parsed
