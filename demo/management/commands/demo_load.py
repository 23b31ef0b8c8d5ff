from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.services import DemoExists, demo_load


class Command(BaseCommand):
    help = (
        "Load the demo: customer demo/demo, staff admin/admin, two hostings, sent mail. "
        "For a laptop (DJANGO_DEBUG=1) only: elsewhere it needs --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load it even with DEBUG off (creates the superuser admin/admin).",
        )

    def handle(self, *args, force: bool, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "The demo creates the superuser admin/admin and the customer demo/demo: it is "
                "for a laptop (DJANGO_DEBUG=1). Use --force to load it anyway."
            )
        try:
            demo_load()
        except DemoExists as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS("Demo loaded: customer demo/demo, staff admin/admin."))
