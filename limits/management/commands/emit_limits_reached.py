from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from hosting.redis import client
from limits.services import webhook_limits_reached_emit


class Command(BaseCommand):
    help = "Tell the webhooks of the sending limits refused recently (limit.reached)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--since", type=int, default=180, help="seconds back to look (default 180)"
        )

    def handle(self, *args, **options) -> None:
        if not 1 <= options["since"] <= 86400:
            raise CommandError("--since must be between 1 and 86400 seconds")
        try:
            emitted = webhook_limits_reached_emit(redis=client(), since=options["since"])
        except RedisError as exc:
            raise CommandError(f"Redis unreachable: {exc}") from exc
        self.stdout.write(f"{emitted} limit.reached delivery(ies) queued.")
