"""Requests through lwsmail.wsgi.application, the way gunicorn hands them over."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core import signals
from django.db import close_old_connections
from django.test import RequestFactory
from django.utils.datastructures import CaseInsensitiveMapping


@dataclass
class WSGIResponse:
    status_code: int
    raw_headers: list[tuple[str, str]]
    content: bytes

    @property
    def headers(self) -> CaseInsensitiveMapping:
        return CaseInsensitiveMapping(self.raw_headers)

    @property
    def cookies(self) -> list[str]:
        return [v for k, v in self.raw_headers if k.lower() == "set-cookie"]


class WSGIClient:
    """Requests through lwsmail.wsgi.application, as gunicorn makes them (the ingest
    fast path ahead of Django's handler), in this thread and this test's transaction; the
    environ is built as Django's test client builds it."""

    def __init__(self) -> None:
        from lwsmail.wsgi import application

        self.application = application
        self.factory = RequestFactory()

    def generic(self, method: str, path: str, data: bytes = b"", **extra) -> WSGIResponse:
        environ = self.factory.generic(method, path, data, **extra).environ
        started: list = []
        chunks = self.application(
            environ, lambda status, headers: started.extend([status, headers])
        )
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        status, headers = started
        return WSGIResponse(int(status.split()[0]), headers, content)

    def get(self, path: str) -> WSGIResponse:
        return self.generic("GET", path)

    def post(self, path: str, data: bytes = b"", content_type: str = "text/plain") -> WSGIResponse:
        return self.generic("POST", path, data, content_type=content_type)


@contextmanager
def connections_kept_open() -> Iterator[None]:
    """As Django's test client does around a request: closing "old" connections at its
    start and end would close the test's own transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
