from __future__ import annotations

from django.apps import AppConfig


class LimitsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "limits"
    verbose_name = "sending limits"
