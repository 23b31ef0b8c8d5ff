from __future__ import annotations

from django.apps import AppConfig


class LwsmailConfig(AppConfig):
    name = "lwsmail"
    verbose_name = "Mail hosting"
