from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import resolve
from django.utils import translation


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


class TrustedProxyMiddleware:
    """Believe X-Forwarded-For and X-Forwarded-Proto only from TRUSTED_PROXIES.

    From a trusted proxy, the client is the rightmost X-Forwarded-For address that is not
    itself a trusted proxy, and it becomes REMOTE_ADDR, so login throttling, the audit
    trail and every other reader of the client address follow it. From anyone else both
    headers are dropped: a forged one changes nothing, HTTPS detection included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.source: list[str] | None = None
        self.trusted = self._networks()

    def _networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        # Parsed again only when the setting object changes (tests override it).
        if settings.TRUSTED_PROXIES is not self.source:
            try:
                self.trusted = [
                    ipaddress.ip_network(n.strip(), strict=False) for n in settings.TRUSTED_PROXIES
                ]
            except ValueError as exc:
                raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None
            self.source = settings.TRUSTED_PROXIES
        return self.trusted

    def _is_trusted(self, value: str) -> bool:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        self._networks()
        if self.trusted and self._is_trusted(meta.get("REMOTE_ADDR", "")):
            hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
            while hops and self._is_trusted(hops[-1]):
                hops.pop()
            # Garbage from the client's side of the proxy: the proxy's address stays.
            if hops:
                with contextlib.suppress(ValueError):
                    meta["REMOTE_ADDR"] = str(ipaddress.ip_address(hops[-1]))
        else:
            meta.pop("HTTP_X_FORWARDED_FOR", None)
            meta.pop("HTTP_X_FORWARDED_PROTO", None)
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
