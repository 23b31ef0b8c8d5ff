from __future__ import annotations

import asyncio
import gc
import signal

import uvloop
from django.core.management.base import BaseCommand, CommandError, CommandParser

from enforcement.policyd import PolicyServer
from hosting.networks import listen_address


class Command(BaseCommand):
    help = "Run the SMTP policy service (Postfix policy delegation protocol)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default="127.0.0.1:10040", help="IP:PORT to listen on")

    def handle(self, *args, listen: str, **options) -> None:
        try:
            host, port = listen_address(listen)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        try:
            policy = PolicyServer()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        async def main() -> None:
            await policy.serve(host, port)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            # Django's import-time objects never die: keep the collector from walking them
            # on every full collection, which would stall every connection at once.
            gc.freeze()
            self.stdout.write(
                f"policyd listening on {host}:{port} (at most {policy.max_connections} "
                f"connections, idle ones closed after {policy.idle_timeout:g} s)"
            )
            self.stdout.flush()
            await stop.wait()
            self.stdout.write("policyd stopping: answering what was asked, then closing")
            self.stdout.flush()
            await policy.shutdown()
            self.stdout.write("policyd stopped")

        try:
            uvloop.run(main())  # libuv's loop: a third less CPU per answer than asyncio's
        except OSError as exc:
            raise CommandError(f"cannot listen on {listen}: {exc}") from exc
