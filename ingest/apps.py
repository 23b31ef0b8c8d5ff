from __future__ import annotations

from django.apps import AppConfig


class IngestConfig(AppConfig):
    """The way in: Rspamd's pushes and scan requests become durable events, then history
    (tracking) and, for spam, the L-SPAM engine (abuse). It has no models of its own."""

    name = "ingest"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ingest import checks  # noqa: F401 (registers the system check)
