from __future__ import annotations

from django.core.management.base import BaseCommand

from limits.services import mailbox_baselines_compute


class Command(BaseCommand):
    help = (
        "Recompute each mailbox's usual hourly volume from the recorded history, which "
        "compromise detection compares with (published to Redis after)."
    )

    def handle(self, *args, **options) -> None:
        count = mailbox_baselines_compute()
        self.stdout.write(f"{count} mailbox baseline(s) computed.")
