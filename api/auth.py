"""Bearer tokens (`Authorization: Bearer lws_…`) and the scope each endpoint needs."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from api.models import ApiToken, key_hash

# last_used_at is written at most this often per token: not a write per request.
USE_GRANULARITY = timedelta(minutes=1)


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: Bearer <token>, one token.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not ASCII.") from exc
        now = timezone.now()
        token = (
            ApiToken.objects.usable(now)
            .select_related("owner")
            .filter(key_hash=key_hash(key))
            .first()
        )
        if token is None or not token.owner.is_active:
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired token.")
        ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=now - USE_GRANULARITY).update(
            last_used_at=now
        )
        return token.owner, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class HasScope(permissions.BasePermission):
    """The view's `required_scope`, which the token must carry."""

    message = "This token lacks the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        scope = str(view.required_scope)
        self.message = f"This token lacks the scope {scope!r}."
        return token.allows(scope)
