from __future__ import annotations

from django.core.management.base import BaseCommand

from tracking.partitions import partitioned
from tracking.services import message_contents_sweep


class Command(BaseCommand):
    help = "Delete message content and spam reports older than 72 hours (the beat job)."

    def handle(self, *args, **options) -> None:
        deleted = message_contents_sweep()
        if partitioned():
            self.stdout.write(f"{deleted} hour(s) of expired content dropped.")
        else:
            self.stdout.write(f"{deleted} expired content row(s) deleted.")
