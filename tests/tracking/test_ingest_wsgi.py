"""The WSGI fast path answers Rspamd's POSTs itself, and hands Django whatever it would
not answer exactly as Django does."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from ingest.wsgi import IngestFastPath
from tests.tracking.push import PASSWORD, push_headers, raw_message
from tests.tracking.wsgi_client import connections_kept_open
from tracking.models import IngestEvent

pytestmark = pytest.mark.django_db
URL = "/api/ingest/rspamd/"
PROXY = "10.0.0.5"


@pytest.fixture(autouse=True)
def ingest_password(settings):
    settings.INGEST_PASSWORD = PASSWORD


@pytest.fixture(autouse=True)
def _kept_open():
    with connections_kept_open():
        yield


class Django:
    """Stands for Django's handler: notes what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ, start_response):
        self.paths.append(environ["PATH_INFO"])
        start_response("299 Django", [("Content-Type", "text/plain")])
        return [b"django\n"]


def call(environ: dict) -> tuple[str, dict, bytes]:
    django = Django()
    started: list = []
    body = b"".join(IngestFastPath(django)(environ, lambda s, h: started.extend([s, dict(h)])))
    status, headers = started
    return ("django" if django.paths else status), headers, body


def environ(mailbox, path: str = URL, method: str = "POST", **extra) -> dict:
    headers = {**push_headers(sender=mailbox.address), **extra.pop("headers", {})}
    request = RequestFactory().generic(
        method, path, raw_message(mailbox.address), headers=headers, **extra
    )
    return request.environ


def test_a_push_is_answered_and_stored_without_djangos_handler(mailbox):
    status, headers, body = call(environ(mailbox))

    event = IngestEvent.objects.get()
    assert (status, body) == ("200 OK", f"queued {event.pk}\n".encode())
    assert headers == {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(body)),
    }
    assert bytes(event.raw) == raw_message(mailbox.address)


def test_a_scan_is_answered_with_202(mailbox):
    headers = {"From": mailbox.address, "Rcpt": "a@example.org"}
    status, _, _ = call(environ(mailbox, "/api/ingest/scan/", headers=headers))

    assert status == "202 Accepted"
    assert IngestEvent.objects.get().kind == "scan"


def test_a_refusal_carries_its_reason_and_its_authentication_challenge(mailbox):
    status, headers, body = call(environ(mailbox, headers={"Authorization": "Basic eDp5"}))

    assert (status, body) == ("401 Unauthorized", b"authentication required\n")
    assert headers["WWW-Authenticate"] == 'Basic realm="lwsmail ingest"'
    assert not IngestEvent.objects.exists()


@pytest.mark.parametrize(
    ("path", "method"),
    [(URL, "GET"), (URL, "PUT"), ("/api/ingest/nothing/", "POST"), ("/api/ingest/rspamd", "POST")],
)
def test_other_urls_and_methods_go_to_django(mailbox, path, method):
    assert call(environ(mailbox, path, method))[0] == "django"
    assert not IngestEvent.objects.exists()


@override_settings(SECURE_SSL_REDIRECT=True)
def test_with_https_required_a_plain_push_goes_to_django_to_be_redirected(mailbox):
    assert call(environ(mailbox))[0] == "django"
    assert call(environ(mailbox, secure=True))[0] == "200 OK"
    assert IngestEvent.objects.count() == 1


@override_settings(SECURE_SSL_REDIRECT=True, TRUSTED_PROXIES=[f"{PROXY}/32"])
def test_https_is_believed_from_a_trusted_proxy_only(mailbox):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"}
    headers = {**forwarded, "X-Rspamd-rspamd_server": ""}

    assert call(environ(mailbox, headers=headers, REMOTE_ADDR="198.51.100.1"))[0] == "django"
    assert call(environ(mailbox, headers=headers, REMOTE_ADDR=PROXY))[0] == "200 OK"
    # The client behind the proxy is the pushing Rspamd, as Django's middleware sees it.
    assert IngestEvent.objects.get().meta["server"] == "192.0.2.7"


@override_settings(ALLOWED_HOSTS=["panel.example"])
def test_a_host_not_allowed_goes_to_django_to_be_refused(mailbox):
    assert call(environ(mailbox))[0] == "django"
    assert call(environ(mailbox, headers={"Host": "panel.example"}))[0] == "200 OK"


class BrokenInput:
    """The WSGI server's input stream when the client goes away mid-body."""

    def read(self, size: int = -1) -> bytes:
        raise OSError("client went away")


def test_a_push_that_fails_unexpectedly_gets_a_500_line_and_is_logged(mailbox, caplog):
    # PostgreSQL down is answered 503 (tests/tracking/test_push_endpoint.py); anything
    # else the ack did not expect is a 500 line with its traceback logged.
    request = {**environ(mailbox), "wsgi.input": BrokenInput()}

    status, _, body = call(request)

    assert (status, body) == ("500 Internal Server Error", b"internal error: send it again\n")
    assert "Internal Server Error: /api/ingest/rspamd/" in caplog.text
    assert not IngestEvent.objects.exists()
