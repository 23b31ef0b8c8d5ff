from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable, MutableMapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.middleware.security import SecurityMiddleware
from django.urls import resolve
from django.utils import translation

from hosting.networks import IPNetwork, address_in, networks_of


class AccountLanguageMiddleware:
    """A logged-in customer sees the panel in their account's language unless they
    switched language in this session (the language cookie); otherwise the browser's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES
        ):
            account = user.customer_accounts.only("language").first()
            if account is not None:
                translation.activate(account.language)
                request.LANGUAGE_CODE = account.language
        return self.get_response(request)


# Set in the WSGI environ once proxy_headers_settle has run on it (ingest/wsgi.py).
PROXY_HEADERS_SETTLED = "lwsmail.proxy_headers_settled"


def _trusted_networks() -> tuple[IPNetwork, ...]:
    try:
        return networks_of(settings.TRUSTED_PROXIES, "TRUSTED_PROXIES")
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def proxy_headers_settle(meta: MutableMapping[str, object]) -> None:
    """Believe X-Forwarded-For and X-Forwarded-Proto only from TRUSTED_PROXIES.

    From a trusted proxy, the client is the rightmost X-Forwarded-For address that is not
    itself a trusted proxy, and it becomes REMOTE_ADDR, so login throttling, the audit
    trail and every other reader of the client address follow it. From anyone else both
    headers are dropped: a forged one changes nothing, HTTPS detection included."""
    if meta.get(PROXY_HEADERS_SETTLED):
        return  # a second pass would take the client for the proxy
    meta[PROXY_HEADERS_SETTLED] = True
    networks = _trusted_networks()
    if networks and address_in(str(meta.get("REMOTE_ADDR", "")), networks):
        forwarded = str(meta.get("HTTP_X_FORWARDED_FOR", ""))
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        while hops and address_in(hops[-1], networks):
            hops.pop()
        # Garbage from the client's side of the proxy: the proxy's address stays.
        if hops:
            with contextlib.suppress(ValueError):
                meta["REMOTE_ADDR"] = str(ipaddress.ip_address(hops[-1]))
    else:
        meta.pop("HTTP_X_FORWARDED_FOR", None)
        meta.pop("HTTP_X_FORWARDED_PROTO", None)


class TrustedProxyMiddleware:
    """The client address and scheme as proxy_headers_settle decides them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        proxy_headers_settle(request.META)
        return self.get_response(request)


class IngestShortcutMiddleware:
    """Rspamd's pushes and scans skip the browser's middleware (sessions, CSRF, locale,
    authentication, messages, CSP, login throttling), none of which they use: per message
    the ack costs little more than its one insert. The host is still checked against
    ALLOWED_HOSTS, and the security middleware before this one still redirects plain HTTP
    when SECURE_SSL_REDIRECT is on."""

    PREFIX = "/api/ingest/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(self.PREFIX):
            return self.get_response(request)
        request.get_host()  # DisallowedHost: a 400, as CommonMiddleware answers elsewhere
        match = resolve(request.path_info)  # Resolver404: a 404
        return match.func(request, *match.args, **match.kwargs)


# The machine endpoints the stack's own services call over its private network: Rspamd's
# pushes and scans, Prometheus's scrape, the health checks.
INTERNAL_PATHS = re.compile(r"^/(?:api/ingest/|api/authpolicy/$|metrics$|healthz$)")


def internal_call(meta: MutableMapping[str, object]) -> bool:
    """A request to a machine endpoint by one of INTERNAL_HOSTS (`web:8000` inside the
    docker-compose stack): answered over plain HTTP, where SECURE_SSL_REDIRECT would send
    Rspamd a 301 it does not follow (and Postfix would defer every message). The endpoints
    authenticate their callers themselves (basic auth, networks or token)."""
    if not settings.INTERNAL_HOSTS or not INTERNAL_PATHS.match(str(meta.get("PATH_INFO", ""))):
        return False
    host, _port = split_domain_port(str(meta.get("HTTP_HOST", "")))
    return host in settings.INTERNAL_HOSTS


class InternalAwareSecurityMiddleware(SecurityMiddleware):
    """Django's security middleware, whose HTTPS redirect spares internal calls."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if internal_call(request.META):
            return None
        return super().process_request(request)
