from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from reputation.blocklists import blocklists_check


class Command(BaseCommand):
    help = (
        "Look every outbound address up in every DNS blocklist zone now (what the beat job "
        "does every 15 minutes) and report the listings and delistings."
    )

    def handle(self, *args, **options) -> None:
        try:
            checked = blocklists_check()
        except ValueError as exc:  # DNSBL_RESOLVER is not an address
            raise CommandError(f"DNSBL_RESOLVER: {exc}") from exc
        self.stdout.write(
            f"{checked.looked_up} lookup(s): {checked.listed} listed, {checked.errors} error(s), "
            f"{checked.changed} change(s)."
        )
