"""The signed reference Rspamd writes on every outbound message (deploy/rspamd,
rspamd.local.lua): "X-LWS-Ref: 1.<queue id>.<unix time>.<mac>", the mac being the first
32 hex digits of HMAC-SHA256(MESSAGE_REFERENCE_KEY, "1.<queue id>.<unix time>")."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

HEADER = "X-LWS-Ref"
VERSION = "1"
FORMAT = re.compile(r"1\.([0-9A-Za-z]{5,32})\.(\d{9,11})\.([0-9a-f]{32})")


@dataclass(frozen=True)
class Reference:
    queue_id: str
    at: datetime  # when Rspamd scanned the message


def _mac(signed: str, key: str) -> str:
    return hmac.new(key.encode(), signed.encode(), hashlib.sha256).hexdigest()[:32]


def reference_sign(*, queue_id: str, at: int, key: str) -> str:
    """The header value Rspamd writes for the message `queue_id` scanned at `at`."""
    signed = f"{VERSION}.{queue_id}.{at}"
    return f"{signed}.{_mac(signed, key)}"


def reference_verify(value: str, *, key: str) -> Reference | None:
    """The reference `value` names, None when its signature is not the key's (forged,
    altered, or signed with another key)."""
    found = FORMAT.fullmatch(value.strip())
    if not found or not key:
        return None
    queue_id, at, mac = found.groups()
    if not hmac.compare_digest(_mac(f"{VERSION}.{queue_id}.{at}", key), mac):
        return None
    try:
        return Reference(queue_id, datetime.fromtimestamp(int(at), UTC))
    except (OverflowError, OSError, ValueError):
        return None
