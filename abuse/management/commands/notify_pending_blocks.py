from __future__ import annotations

import smtplib

from django.core.management.base import BaseCommand, CommandError

from abuse.notifications import blocks_notify_pending


class Command(BaseCommand):
    help = "Send the suspension e-mails never sent for standing blocks (what the beat job does)."

    def handle(self, *args, **options) -> None:
        try:
            sent = blocks_notify_pending()
        except (smtplib.SMTPException, OSError) as exc:
            raise CommandError(f"SMTP server unreachable or refusing: {exc}") from exc
        self.stdout.write(f"{sent} suspension e-mail(s) sent.")
