from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis import RedisError

from limits.state import CountersWhole, counters_replay


class Command(BaseCommand):
    help = (
        "After Redis lost its recipient counters: count again, from the message history, "
        "what was sent in the last 24 hours before counting resumed, so that the sending "
        "limits and the pages' meters see whole windows again."
    )

    def handle(self, *args, **options) -> None:
        try:
            counted = counters_replay()
        except CountersWhole as exc:
            raise CommandError(f"Nothing to replay: {exc}.") from exc
        except RedisError as exc:
            raise CommandError(f"Redis unreachable: {exc}") from exc
        self.stdout.write(f"{counted} messages of the last 24 hours counted again.")
