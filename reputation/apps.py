from __future__ import annotations

from django.apps import AppConfig


class ReputationConfig(AppConfig):
    name = "reputation"
    verbose_name = "Reputation: complaints and blocklists"
