"""The HTTP ways in: Rspamd's metadata_exporter push, and messages handed over to scan.

`ingest_receive` answers a request whichever way it came: through Django's handler (the
views below, which tests and `runserver` use) or straight from the WSGI server
(ingest/wsgi.py, as deployed)."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ingest.events import ingest_event_create, push_meta, scan_meta
from ingest.parsing import InvalidReport, header_value
from tracking.models import IngestEvent

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; charset=utf-8"
AUTHENTICATE = ("WWW-Authenticate", 'Basic realm="lwsmail ingest"')
RETRY_AFTER = ("Retry-After", "30")


@dataclass(frozen=True)
class Reply:
    """The one-line answer to an ingest request."""

    status: int
    text: str
    headers: tuple[tuple[str, str], ...] = ()

    def body(self) -> bytes:
        return (self.text + "\n").encode()


def _credentials_ok(authorization: str) -> bool:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not settings.INGEST_PASSWORD:
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user.encode(), settings.INGEST_USERNAME.encode()) & (
        hmac.compare_digest(password.encode(), settings.INGEST_PASSWORD.encode())
    )


def ingest_receive(
    *,
    kind: str,
    headers: Mapping[str, str],
    peer: str,
    content_length: str | None,
    read: Callable[[int], bytes],
) -> Reply:
    """Check the credentials and the size (before reading the body), store the message
    durably and say so; bad input gets a 4xx and a logged one-line reason."""
    if not _credentials_ok(headers.get("Authorization") or ""):
        log.warning("ingest refused from %s: bad or missing credentials", peer)
        return Reply(401, "authentication required", (AUTHENTICATE,))
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        # WSGI servers hand Django no length for a chunked body, so it would read as empty.
        return Reply(411, "send the message with a Content-Length, not chunked")
    try:
        length = int(content_length or 0)
    except ValueError:
        return Reply(400, "bad Content-Length")
    if length < 0:
        return Reply(400, "bad Content-Length")
    if length > settings.INGEST_MAX_BYTES:
        log.warning("ingest refused from %s: %d bytes is over the limit", peer, length)
        return Reply(413, f"message larger than {settings.INGEST_MAX_BYTES} bytes")
    # Never more than the declared length: a WSGI server's input may not stop there.
    body = read(length)
    if not body:
        return Reply(400, "empty body: the message is missing")
    try:
        if kind == IngestEvent.Kind.PUSH:
            return _push(headers, peer, body)
        return _scan(headers, body)
    except InvalidReport as exc:
        log.warning("ingest refused from %s: %s", peer, exc)
        return Reply(400, str(exc))
    except OperationalError as exc:
        # PostgreSQL down or unreachable (the ack has already tried a new connection):
        # nothing was stored, and the sender's copy is the only one. Not a fault of ours
        # to log with a traceback, nor a 500 that reads as a bug.
        log.error("ingest from %s not stored, the database is unavailable: %s", peer, exc)
        return Reply(503, "database unavailable: nothing stored, send it again", (RETRY_AFTER,))


def _push(headers: Mapping[str, str], peer: str, body: bytes) -> Reply:
    meta = push_meta(headers)
    # Rspamd 3.4 leaves rspamd_server empty; queue ids are unique per sending host only,
    # so the pushing Rspamd's address completes the message's identity.
    meta["server"] = meta["server"] or peer
    event_id = ingest_event_create(kind=IngestEvent.Kind.PUSH, meta=meta, raw=body)
    return Reply(200, f"queued {event_id}")


def _scan(headers: Mapping[str, str], body: bytes) -> Reply:
    def get(name: str) -> str | None:
        return header_value(headers.get(name), field=name, identity=True)

    meta = scan_meta(
        sender=get("From"),
        recipients=(get("Rcpt") or "").split(","),
        user=get("User"),
        ip=get("IP"),
        queue_id=get("Queue-Id"),
        sent_at=get("Sent-At"),
    )
    event_id = ingest_event_create(kind=IngestEvent.Kind.SCAN, meta=meta, raw=body)
    return Reply(202, f"queued {event_id}")


def _view(kind: str) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        reply = ingest_receive(
            kind=kind,
            headers=request.headers,
            peer=request.META.get("REMOTE_ADDR", ""),
            content_length=request.META.get("CONTENT_LENGTH"),
            read=request.read,
        )
        response = HttpResponse(reply.body(), status=reply.status, content_type=CONTENT_TYPE)
        for name, value in reply.headers:
            response[name] = value
        return response

    return view


rspamd_push = _view(IngestEvent.Kind.PUSH)
scan_submit = _view(IngestEvent.Kind.SCAN)
