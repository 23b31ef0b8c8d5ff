from __future__ import annotations

import asyncio
import gc
import signal

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosting.networks import listen_address
from mailaccess.authpolicyd import PATH, AuthPolicyServer


class Command(BaseCommand):
    help = "Run Dovecot's auth policy service (auth_policy_server_url), answered from Redis."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default="127.0.0.1:10041", help="IP:PORT to listen on")

    def handle(self, *args, listen: str, **options) -> None:
        try:
            host, port = listen_address(listen)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not settings.AUTHPOLICY_TOKEN:
            raise CommandError(
                "AUTHPOLICY_TOKEN is not set: Dovecot's calls would all be refused "
                "(set it here and in Dovecot's auth_policy_server_api_header)"
            )
        server = AuthPolicyServer()

        async def main() -> None:
            await server.serve(host, port)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            # As policyd: the collector never walks Django's import-time objects.
            gc.freeze()
            self.stdout.write(f"authpolicyd listening on http://{host}:{port}{PATH}")
            self.stdout.flush()
            await stop.wait()
            self.stdout.write("authpolicyd stopping")
            await server.shutdown()
            self.stdout.write("authpolicyd stopped")

        try:
            uvloop.run(main())
        except OSError as exc:
            raise CommandError(f"cannot listen on {listen}: {exc}") from exc
