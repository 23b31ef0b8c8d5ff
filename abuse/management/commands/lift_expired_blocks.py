from __future__ import annotations

from django.core.management.base import BaseCommand

from abuse.services import blocks_lift_expired


class Command(BaseCommand):
    help = "Mark timed blocks whose end has passed as lifted (what the beat job does)."

    def handle(self, *args, **options) -> None:
        lifted = blocks_lift_expired()
        self.stdout.write(f"{lifted} expired block(s) lifted.")
