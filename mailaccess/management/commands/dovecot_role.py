from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from mailaccess.passdb import ROLE, VIEW
from mailaccess.services import RoleRefused, dovecot_role_configure


class Command(BaseCommand):
    help = (
        f"Give Dovecot's database role ({ROLE}) the password in DOVECOT_DB_PASSWORD and the "
        f"right to read the view {VIEW}, and nothing else. Run it after migrate."
    )

    def handle(self, *args, **options) -> None:
        if not settings.DOVECOT_DB_PASSWORD:
            raise CommandError("DOVECOT_DB_PASSWORD is not set: Dovecot's role needs a password.")
        try:
            dovecot_role_configure(password=settings.DOVECOT_DB_PASSWORD)
        except (RoleRefused, DatabaseError) as exc:
            raise CommandError(f"Dovecot's role was not set up: {exc}") from exc
        self.stdout.write(f"{ROLE} may log in and read {VIEW}, nothing else.")
