from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from abuse.services import blockstate_rebuild


class Command(BaseCommand):
    help = "Rewrite the Redis block state the policy service reads from PostgreSQL."

    def handle(self, *args, **options) -> None:
        try:
            count = blockstate_rebuild()
        except RedisError as exc:
            raise CommandError(f"Redis unreachable: {exc}") from exc
        self.stdout.write(f"{count} standing block(s) written to Redis.")
