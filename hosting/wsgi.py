"""What the fast paths ahead of Django's handler share (ingest/wsgi.py, mailaccess/wsgi.py):
the request's headers read from the WSGI environ, and whether Django would answer the
request itself (HTTPS or an internal call, an allowed host) rather than redirect or refuse."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest

from hosting.middleware import internal_call, proxy_headers_settle


class EnvironHeaders(Mapping[str, str]):
    """A request's HTTP headers by name, any case, read from the WSGI environ when asked:
    Django's HttpHeaders builds a dict of every header first, for the dozen or so lookups
    an ack makes."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    @staticmethod
    def _key(name: str) -> str:
        key = name.upper().replace("-", "_")
        return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"

    def __getitem__(self, name: str) -> str:
        return self.environ[self._key(name)]

    def get(self, name: str, default: Any = None) -> Any:
        return self.environ.get(self._key(name), default)

    def __iter__(self) -> Iterator[str]:
        for key in self.environ:
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                yield key.replace("_", "-").title()

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _EnvironRequest(HttpRequest):
    """Enough of a request for Django's own host and HTTPS checks."""

    def __init__(self, environ: dict[str, Any]) -> None:
        super().__init__()
        self.META = environ

    def _get_scheme(self) -> str:
        return self.META.get("wsgi.url_scheme", "http")


def answerable_here(environ: dict[str, Any]) -> bool:
    """Whether a fast path may answer: Django would neither send it to HTTPS nor refuse
    its host (those go on to Django, for its redirect, its 400 and its security log)."""
    proxy_headers_settle(environ)
    request = _EnvironRequest(environ)
    if settings.SECURE_SSL_REDIRECT and not request.is_secure() and not internal_call(environ):
        return False
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True
