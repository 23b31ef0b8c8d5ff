from __future__ import annotations

from django.apps import AppConfig


class AbuseConfig(AppConfig):
    name = "abuse"
    verbose_name = "Mail abuse"

    def ready(self) -> None:
        from abuse import checks  # noqa: F401 (registers the system check)
