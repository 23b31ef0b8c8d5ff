"""The signature of a delivery, as a receiver checks it.

Header `X-Lwsmail-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256(secret, "<t>." + body). A receiver recomputes it over the raw body, compares
in constant time, refuses a timestamp older than its tolerance (a replayed request), and
drops a delivery id it has already seen (`X-Lwsmail-Delivery`, also the body's "id"):
a delivery is retried until it gets a 2xx, so it may arrive twice."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Lwsmail-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance` seconds."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
