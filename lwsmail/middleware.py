from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
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
