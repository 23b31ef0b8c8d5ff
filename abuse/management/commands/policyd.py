from __future__ import annotations

import gc
import ipaddress

import uvloop
from django.core.management.base import BaseCommand, CommandError, CommandParser

from abuse.policyd import PolicyServer


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise CommandError(
            f"--listen must be IP:PORT (e.g. 127.0.0.1:10040), not {value!r}"
        ) from None
    if not sep or not 0 < number < 65536:
        raise CommandError(f"--listen port must be 1-65535, not {port!r}")
    return host, number


class Command(BaseCommand):
    help = "Run the SMTP policy service (Postfix policy delegation protocol)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default="127.0.0.1:10040", help="IP:PORT to listen on")

    def handle(self, *args, listen: str, **options) -> None:
        host, port = parse_listen(listen)

        async def main() -> None:
            server = await PolicyServer().serve(host, port)
            # Django's import-time objects never die: keep the collector from walking them
            # on every full collection, which would stall every connection at once.
            gc.freeze()
            self.stdout.write(f"policyd listening on {host}:{port}")
            async with server:
                await server.serve_forever()

        try:
            uvloop.run(main())  # libuv's loop: a third less CPU per answer than asyncio's
        except OSError as exc:
            raise CommandError(f"cannot listen on {listen}: {exc}") from exc
        except KeyboardInterrupt:
            pass
