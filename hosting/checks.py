"""The project's own security middleware stands where Django's would."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register

MIDDLEWARE = "hosting.middleware.InternalAwareSecurityMiddleware"


@register(deploy=True)
def security_middleware_present(app_configs, **kwargs) -> list[Warning]:
    # It replaces Django's SecurityMiddleware, whose own check (security.W001, silenced in
    # the settings) looks for Django's by name.
    if MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [
        Warning(
            f"{MIDDLEWARE} is not in MIDDLEWARE: HSTS, nosniff, the referrer policy and the "
            "HTTPS redirect are off",
            id="lwsmail.W003",
        )
    ]
