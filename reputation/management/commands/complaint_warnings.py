from __future__ import annotations

import smtplib

from django.core.management.base import BaseCommand, CommandError

from reputation.rates import complaint_warnings_sweep


class Command(BaseCommand):
    help = (
        "Warn the domains whose complaint rate passed 0.1 % of 1,000 or more delivered "
        "messages over 30 days, and send every warning not yet sent (what the beat job does)."
    )

    def handle(self, *args, **options) -> None:
        try:
            issued, sent = complaint_warnings_sweep(pending_after=0)
        except (smtplib.SMTPException, OSError) as exc:
            raise CommandError(f"SMTP server unreachable or refusing: {exc}") from exc
        self.stdout.write(f"{issued} complaint warning(s) issued, {sent} e-mail(s) sent.")
