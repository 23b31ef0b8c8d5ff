from __future__ import annotations

from django.apps import AppConfig


class LwsmailConfig(AppConfig):
    name = "lwsmail"
    verbose_name = "Mail hosting"

    def ready(self) -> None:
        from lwsmail import checks  # noqa: F401 (registers the system check)
