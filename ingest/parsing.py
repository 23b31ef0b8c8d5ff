"""Validating what a push or scan request says (X-Rspamd-* headers, the envelope).

Everything here is hostile input: X-Rspamd-* headers written by the senders we police or
by a misconfigured exporter must give a clear one-line error or a best effort, never a
crash in the worker.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tracking.mime import clean_text, text

UNKNOWN = "unknown"  # what Rspamd's exporter sends for an absent value
# No white space, control character or lone surrogate anywhere in an address.
_ATOM = r"[^@\s<>\x00-\x1f\x7f\ud800-\udfff]+"
ADDRESS_RE = re.compile(rf"^{_ATOM}@{_ATOM}$")
# Control characters and lone surrogates: never part of an identity field.
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# Rspamd's queue ids and server names: printable ASCII.
_TOKEN_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
# Python's JSON parser recurses per nesting level; Rspamd's reports nest three deep.
MAX_JSON_DEPTH = 32
# A send time outside this range is not a real message's (and would overflow windows).
EARLIEST_SENT_AT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_SENT_AT_AHEAD = timedelta(days=1)


class InvalidReport(ValueError):
    """A push or scan request that cannot be ingested; the message says why in one line."""


def header_value(value: str | None, *, field: str, identity: bool) -> str | None:
    """An HTTP header as the peer wrote it: WSGI hands raw bytes over as Latin-1, and Rspamd
    writes UTF-8. An identity field that is not UTF-8 is refused; free text keeps what is
    readable, with replacement characters."""
    if value is None:
        return None
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # already text (not from a WSGI server)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if identity:
            raise InvalidReport(f"{field} is not valid UTF-8") from None
        return raw.decode("utf-8", "replace")


def token(value: str | None, *, field: str) -> str:
    """A queue id or server name: printable ASCII, or empty when absent."""
    value = (value or "").strip()
    if value in ("", UNKNOWN):
        return ""
    if not _TOKEN_RE.match(value):
        raise InvalidReport(f"{field} must be printable ASCII of at most 255 characters")
    return value


def plain_text(value: str | None, *, field: str, max_length: int) -> str:
    """A one-line identity value (a login name, an action): no control characters."""
    value = (value or "").strip()
    if value == UNKNOWN:
        return ""
    if _CONTROL.search(value) or len(value) > max_length:
        raise InvalidReport(f"{field} holds control characters or is too long")
    return value


def clean_address(value: str | None, *, field: str, required: bool = False) -> str:
    value = (value or "").strip().strip("<>").strip()
    if value in ("", UNKNOWN):
        if required:
            raise InvalidReport(f"{field} is missing")
        return ""
    if not ADDRESS_RE.match(value) or len(value) > 254:
        raise InvalidReport(f"{field} is not an address: {value[:80]!r}")
    return value.lower()


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _depth_over(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests deeper than `limit`: a walk of the parsed values, which
    costs a small share of a character-by-character scan of the text."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            if isinstance(node, (list, dict))
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, (list, dict)) for node in level)


def json_header(value: str | None, *, field: str, kind: type) -> Any:
    if value in (None, ""):
        raise InvalidReport(f"{field} is missing")
    if value == UNKNOWN:
        return kind()
    too_deep = InvalidReport(f"{field} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        parsed = json.loads(value, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidReport(f"{field} is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        raise InvalidReport(f"{field} is not valid JSON: {exc}") from None
    # Fewer brackets than the limit cannot nest past it: most reports skip the walk.
    if value.count("[") + value.count("{") > MAX_JSON_DEPTH and _depth_over(parsed, MAX_JSON_DEPTH):
        raise too_deep
    if not isinstance(parsed, kind):
        raise InvalidReport(f"{field} must be a JSON {kind.__name__}")
    return parsed


def float_header(value: str | None, *, field: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidReport(f"{field} is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number) or abs(number) > 1e6:
        raise InvalidReport(f"{field} is out of range")
    return number


def _symbol_score(value: Any, name: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidReport(f"symbol {name[:40]!r}: score must be a number")
    if not math.isfinite(value) or abs(value) > 1e6:
        raise InvalidReport(f"symbol {name[:40]!r}: score is out of range")
    return float(value)


def symbols_report(raw_symbols: Any) -> dict[str, dict[str, Any]]:
    """Normalise Rspamd's symbols (a list from the exporter, a mapping from /checkv2)."""
    items = raw_symbols.values() if isinstance(raw_symbols, dict) else raw_symbols
    report: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidReport("symbols entries must be objects with a name")
        name = clean_text(item["name"])[:128]
        options = item.get("options") or []
        report[name] = {
            "score": _symbol_score(item.get("score"), name),
            "description": text(item.get("description"))[:500],
            "options": [
                clean_text(o if isinstance(o, str) else json.dumps(o))[:500] for o in options
            ][:50]
            if isinstance(options, list)
            else [],
        }
    return report


def parse_ip(value: str | None) -> str | None:
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
    try:
        # PostgreSQL takes offsets up to ±15:59 only; UTC is always stored the same.
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidReport("sent_at is out of range") from None
    if not EARLIEST_SENT_AT <= parsed <= datetime.now(UTC) + LATEST_SENT_AT_AHEAD:
        raise InvalidReport("sent_at is out of range (2000-01-01 up to tomorrow)")
    return parsed
