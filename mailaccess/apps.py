from __future__ import annotations

from django.apps import AppConfig


class MailAccessConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mailaccess"
    verbose_name = "mail access"
