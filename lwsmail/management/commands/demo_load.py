from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from lwsmail.demo import DemoExists, demo_load


class Command(BaseCommand):
    help = "Load the demo: customer demo/demo, staff admin/admin, two hostings, sent mail."

    def handle(self, *args, **options) -> None:
        try:
            demo_load()
        except DemoExists as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS("Demo loaded: customer demo/demo, staff admin/admin."))
