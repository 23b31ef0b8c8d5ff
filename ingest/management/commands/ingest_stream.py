from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
from pathlib import Path

import redis
from django.conf import settings
from django.core import signals
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from ingest.events import BATCH, TRANSIENT_DB_ERRORS
from ingest.stream import ingest_stream_consume

log = logging.getLogger(__name__)

TRANSIENT = (*TRANSIENT_DB_ERRORS, redis.ConnectionError, redis.TimeoutError)
BACKOFF_MAX_S = 30.0


class Command(BaseCommand):
    help = (
        "Record the messages Rspamd appends to the ingest stream (INGEST_STREAM), batch by "
        "batch, until stopped (SIGTERM: after the batch at work)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=BATCH, help=f"entries per transaction (1 to 1000, {BATCH})"
        )
        parser.add_argument(
            "--consumer",
            default=f"{socket.gethostname()}:{os.getpid()}",
            help="this consumer's name in the group (default: host:pid)",
        )
        parser.add_argument(
            "--heartbeat",
            type=Path,
            help="a file touched before each read, at least every second (a health check)",
        )
        parser.add_argument(
            "--until-empty",
            action="store_true",
            help="stop once the stream has nothing left for this consumer",
        )

    def handle(
        self,
        *args,
        batch: int,
        consumer: str,
        until_empty: bool,
        heartbeat: Path | None,
        **options,
    ) -> None:
        if not 1 <= batch <= 1000:
            raise CommandError("--batch must be between 1 and 1000")
        if not consumer.strip() or len(consumer) > 200:
            raise CommandError("--consumer must be a name of 1 to 200 characters")
        if heartbeat is not None:
            try:
                heartbeat.touch()
            except OSError as exc:
                raise CommandError(f"--heartbeat {heartbeat}: {exc.strerror}") from None
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        # Django's import-time objects never die: the collector need not walk them again.
        gc.freeze()
        self.stdout.write(f"ingest_stream: {consumer} reading {settings.INGEST_STREAM}")
        self.stdout.flush()
        total, backoff, previous = 0, 0.0, 0
        while not stop.is_set():
            if heartbeat is not None:
                os.utime(heartbeat)
            # Each batch as a request: connections past their age or broken are closed
            # around it (the signals Django's handler sends, which tests leave out).
            signals.request_started.send(sender=self.__class__)
            try:
                taken = ingest_stream_consume(consumer=consumer, batch=batch)
            except TRANSIENT as exc:
                if until_empty:
                    raise CommandError(f"stopped, nothing lost, run it again: {exc}") from exc
                backoff = min(max(backoff * 2, 1.0), BACKOFF_MAX_S)
                log.warning("ingest_stream: %s; again in %.0f s", exc, backoff)
                connection.close()
                stop.wait(backoff)
                continue
            except redis.ResponseError as exc:
                # Not a passing trouble: the key holds something else, or Redis refuses.
                raise CommandError(f"{settings.INGEST_STREAM}: {exc}") from exc
            finally:
                signals.request_finished.send(sender=self.__class__)
            backoff = 0.0
            total += taken
            if not taken and until_empty:
                break
            if previous and 0 < taken < batch:
                # Under steady load a short wait makes the next batch bigger, sharing its
                # fixed cost (as ingest_events_drain does); a lone message never waits.
                stop.wait(settings.INGEST_DRAIN_LINGER_MS / 1000)
            previous = taken
        self.stdout.write(f"ingest_stream: {total} entries taken, stopping")
