from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from mailaccess.inactivity import inactivity_sweep


class Command(BaseCommand):
    help = (
        "Warn the customers of mailboxes idle (no login, no message sent) for 83 days, and "
        "suspend those idle for 90 days and warned 7 days ago at least (the beat job's work)."
    )

    def handle(self, *args, **options) -> None:
        swept = inactivity_sweep(now=timezone.now())
        self.stdout.write(
            f"{len(swept.warned)} mailbox(es) warned, {len(swept.suspended)} suspended."
        )
