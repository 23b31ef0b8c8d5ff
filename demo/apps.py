from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo of `make run` (demo_run, demo_load, demo_spam): it drives every floor, so it
    stands on the top one, under the project package."""

    name = "demo"
    verbose_name = "Demo"
