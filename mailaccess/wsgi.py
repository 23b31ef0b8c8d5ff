"""Dovecot's auth policy answered straight from the WSGI server, ahead of Django's handler
(as ingest/wsgi.py does for Rspamd): each login costs two requests, and Django's request
objects, URL resolution and middleware chain cost them more than their Redis script.
Anything this path does not answer exactly as Django would goes on to Django."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from django.core import signals

from hosting.wsgi import answerable_here
from mailaccess.views import MAX_BODY, auth_policy_answer

log = logging.getLogger("django.request")

PATH = "/api/authpolicy/"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AuthPolicyFastPath:
    """A WSGI application: POST /api/authpolicy/ here, everything else to `app`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        if not answerable_here(environ):
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            status, data = 400, {"detail": "Content-Length is a number."}
        else:
            command = parse_qs(environ.get("QUERY_STRING", "")).get("command", [None])[-1]
            # A body past the limit is not read: its length says enough.
            body = environ["wsgi.input"].read(length) if length <= MAX_BODY else None
            signals.request_started.send(sender=self.__class__, environ=environ)
            try:
                status, data = auth_policy_answer(
                    command=command, authorization=environ.get("HTTP_AUTHORIZATION", ""), body=body
                )
            except Exception:
                log.exception("Internal Server Error: %s", PATH)
                # Dovecot lets the login through on any error (auth_policy_reject_on_fail = no).
                status, data = 500, {"detail": "internal error"}
            finally:
                signals.request_finished.send(sender=self.__class__)
        payload = json.dumps(data).encode()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]
