from __future__ import annotations

from django.apps import AppConfig


class PanelConfig(AppConfig):
    """The customer's composed pages (hostings, addresses with their restrictions and use,
    password, action history): they read the rules (abuse, limits) and the history."""

    name = "panel"
    verbose_name = "Customer panel"
