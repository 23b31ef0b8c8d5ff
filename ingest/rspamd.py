"""Rspamd's scan API (/checkv2 on the normal worker), through one pooled httpx client."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import httpx
from django.conf import settings


class RspamdUnavailable(Exception):
    """Rspamd did not answer, or answered with a server error: worth retrying later."""


@functools.cache
def _client() -> httpx.Client:
    return httpx.Client(
        base_url=settings.RSPAMD_URL,
        timeout=httpx.Timeout(settings.RSPAMD_TIMEOUT, connect=5.0),
        limits=httpx.Limits(max_keepalive_connections=8),
    )


# The rules of deploy/rspamd/rspamd.local.lua that refuse a blocked sender, or a website
# script over its sending limit.
BLOCK_SYMBOLS = ("LWS_BLOCKED", "LWS_RATE")
_CODE = re.compile(r"L-SPAM\d\d|L-RATE|L-HOLD")


def refused_code(symbols: dict[str, Any]) -> str | None:
    """The code if Rspamd refused the message for a standing block (L-SPAM…) or a sending
    limit (L-RATE), else None."""
    for name in BLOCK_SYMBOLS:
        symbol = symbols.get(name)
        if symbol is not None:
            # "L-SPAM20", or "L-SPAM00 until …" for a timed block.
            found = (_CODE.match(str(o)) for o in symbol.get("options") or [])
            return next((m.group() for m in found if m), "")
    return None


def rspamd_check(
    raw: bytes, *, sender: str, recipients: list[str], ip: str | None, user: str, queue_id: str
) -> dict[str, Any]:
    """Scan one message; returns Rspamd's JSON (score, required_score, action, symbols)."""
    headers = {
        "From": sender or "<>",
        "Queue-Id": queue_id or "",
        "Pass": "all",
        # Read by deploy/rspamd/rspamd.local.lua: the blocked-senders rule stays out, and
        # the message is not appended to the ingest stream (LWS_STREAM).
        "Lwsmail-Panel-Scan": "1",
        # A scan the panel asked for must not come back through the metadata_exporter push,
        # and is of a message already sent: today's blocked-senders map does not apply.
        "Settings": json.dumps({"symbols_disabled": ["EXPORT_METADATA_LWSMAIL", *BLOCK_SYMBOLS]}),
    }
    if ip:
        headers["IP"] = ip
    if user:
        headers["User"] = user
    # Rspamd reads every Rcpt header; httpx sends a list of tuples as repeated headers.
    header_list = list(headers.items()) + [("Rcpt", r) for r in recipients]
    try:
        response = _client().post("/checkv2", content=raw, headers=header_list)
    except httpx.TransportError as exc:
        raise RspamdUnavailable(f"Rspamd at {settings.RSPAMD_URL} unreachable: {exc!r}") from exc
    if response.status_code >= 500:
        raise RspamdUnavailable(f"Rspamd answered {response.status_code}")
    response.raise_for_status()
    result = response.json()
    if "score" not in result or "action" not in result:
        raise RspamdUnavailable(f"Rspamd answered without a verdict: {str(result)[:200]}")
    return result
