from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from limits.services import holds_sync


class Command(BaseCommand):
    help = (
        "Record the compromise holds the policy service started, clear lifted ones from "
        "Redis and put back standing ones Redis lost."
    )

    def handle(self, *args, **options) -> None:
        try:
            standing = holds_sync()
        except RedisError as exc:
            raise CommandError(f"Redis unreachable: {exc}") from exc
        self.stdout.write(f"{standing} compromise hold(s) standing.")
