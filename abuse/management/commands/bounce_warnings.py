from __future__ import annotations

import smtplib

from django.core.management.base import BaseCommand, CommandError

from abuse.bounces import bounce_warning_notify, bounce_warnings_issue
from abuse.models import BounceWarning


class Command(BaseCommand):
    help = (
        "Warn the addresses and domains whose hard bounces passed 10 % over 7 days, and send "
        "every warning not yet sent (what the beat job does)."
    )

    def handle(self, *args, **options) -> None:
        issued = bounce_warnings_issue()
        try:
            sent = sum(
                bounce_warning_notify(warning_id=pk)
                for pk in BounceWarning.objects.filter(notified_at__isnull=True).values_list(
                    "pk", flat=True
                )
            )
        except (smtplib.SMTPException, OSError) as exc:
            raise CommandError(f"SMTP server unreachable or refusing: {exc}") from exc
        self.stdout.write(f"{issued} bounce warning(s) issued, {sent} e-mail(s) sent.")
