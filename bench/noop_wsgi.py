"""A WSGI application that reads the request's body and answers 200: gunicorn serving it is
what the web server alone costs per push, whatever the panel does (bench/ingest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response(
        "200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "3")]
    )
    return [b"ok\n"]
