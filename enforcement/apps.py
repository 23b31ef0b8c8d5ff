from __future__ import annotations

from django.apps import AppConfig


class EnforcementConfig(AppConfig):
    """The SMTP-time enforcement: the Redis projection the rules publish into (blocks,
    limits, holds), the decision and counting scripts (lua/), and the policy service that
    answers Postfix from Redis alone. It knows no rule's models."""

    name = "enforcement"
    verbose_name = "SMTP enforcement"
