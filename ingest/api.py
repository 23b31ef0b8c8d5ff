"""The HTTP ways in: Rspamd's metadata_exporter push, and messages handed over to scan."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ingest.events import ingest_event_create, push_meta, scan_meta
from ingest.parsing import InvalidReport, header_value
from tracking.models import IngestEvent

log = logging.getLogger(__name__)


def _reply(status: int, text: str) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


def _credentials_ok(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not settings.INGEST_PASSWORD:
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user.encode(), settings.INGEST_USERNAME.encode()) & (
        hmac.compare_digest(password.encode(), settings.INGEST_PASSWORD.encode())
    )


def ingest_endpoint(view: Callable[[HttpRequest, bytes], HttpResponse]):
    """Basic auth, a size limit read before the body, and a logged one-line 4xx on bad input."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        peer = request.META.get("REMOTE_ADDR")
        if not _credentials_ok(request):
            log.warning("ingest refused from %s: bad or missing credentials", peer)
            response = _reply(401, "authentication required")
            response["WWW-Authenticate"] = 'Basic realm="lwsmail ingest"'
            return response
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # WSGI servers hand Django no length for a chunked body, so it would read as empty.
            return _reply(411, "send the message with a Content-Length, not chunked")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _reply(400, "bad Content-Length")
        if length < 0:
            return _reply(400, "bad Content-Length")
        if length > settings.INGEST_MAX_BYTES:
            log.warning("ingest refused from %s: %d bytes is over the limit", peer, length)
            return _reply(413, f"message larger than {settings.INGEST_MAX_BYTES} bytes")
        body = request.read(settings.INGEST_MAX_BYTES + 1)
        if len(body) > settings.INGEST_MAX_BYTES:
            return _reply(413, f"message larger than {settings.INGEST_MAX_BYTES} bytes")
        if not body:
            return _reply(400, "empty body: the message is missing")
        try:
            return view(request, body)
        except InvalidReport as exc:
            log.warning("ingest refused from %s: %s", peer, exc)
            return _reply(400, str(exc))

    return wrapper


@ingest_endpoint
def rspamd_push(request: HttpRequest, body: bytes) -> HttpResponse:
    meta = push_meta(request.headers)
    # Rspamd 3.4 leaves rspamd_server empty; queue ids are unique per sending host only,
    # so the pushing Rspamd's address completes the message's identity.
    meta["server"] = meta["server"] or request.META.get("REMOTE_ADDR", "")
    event = ingest_event_create(kind=IngestEvent.Kind.PUSH, meta=meta, raw=body)
    return _reply(200, f"queued {event.pk}")


@ingest_endpoint
def scan_submit(request: HttpRequest, body: bytes) -> HttpResponse:
    def get(name: str) -> str | None:
        return header_value(request.headers.get(name), field=name, identity=True)

    meta = scan_meta(
        sender=get("From"),
        recipients=(get("Rcpt") or "").split(","),
        user=get("User"),
        ip=get("IP"),
        queue_id=get("Queue-Id"),
        sent_at=get("Sent-At"),
    )
    event = ingest_event_create(kind=IngestEvent.Kind.SCAN, meta=meta, raw=body)
    return _reply(202, f"queued {event.pk}")
