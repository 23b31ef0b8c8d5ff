from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from abuse.retention import RetentionTooShort, history_days, message_history_expire
from tracking.partitions import partitioned


class Command(BaseCommand):
    help = "Delete the message history older than MESSAGE_HISTORY_DAYS (what the beat job does)."

    def handle(self, *args, **options) -> None:
        try:
            deleted = message_history_expire()
        except RetentionTooShort as exc:
            raise CommandError(str(exc)) from exc
        if partitioned():
            self.stdout.write(
                f"{deleted} partition(s) of history (four weeks each) older than "
                f"{history_days()} days dropped."
            )
        else:
            self.stdout.write(f"{deleted} message(s) older than {history_days()} days deleted.")
