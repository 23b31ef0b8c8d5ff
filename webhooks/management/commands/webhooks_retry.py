from __future__ import annotations

from django.core.management.base import BaseCommand

from webhooks.services import webhook_deliveries_purge, webhook_deliveries_queue_due


class Command(BaseCommand):
    help = "Queue the webhook deliveries that are due, and purge those finished long ago."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--purge", action="store_true", help="also delete deliveries past WEBHOOK_KEEP_DAYS"
        )

    def handle(self, *args, **options) -> None:
        queued = webhook_deliveries_queue_due()
        self.stdout.write(f"{queued} due delivery(ies) queued.")
        if options["purge"]:
            self.stdout.write(f"{webhook_deliveries_purge()} finished delivery(ies) deleted.")
