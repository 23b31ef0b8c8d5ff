from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from limits.state import limits_rebuild


class Command(BaseCommand):
    help = "Rewrite the sending limits the policy service and Rspamd read in Redis."

    def handle(self, *args, **options) -> None:
        try:
            count = limits_rebuild()
        except RedisError as exc:
            raise CommandError(f"Redis unreachable: {exc}") from exc
        self.stdout.write(f"{count} limit entries written to Redis.")
