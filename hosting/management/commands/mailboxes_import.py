from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosting.imports import mailboxes_import
from hosting.passwords import SCHEMES


class Command(BaseCommand):
    help = (
        "Import mailboxes with the password hashes they have on another platform, one "
        "'address {SCHEME}hash' per line (FILE, or - for standard input), so nobody must "
        f"reset a password to move. Schemes: {', '.join(SCHEMES)}. A line that cannot be "
        "used is refused with its number and the reason, the others are imported; the exit "
        "status is 1 when any line was refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the file of lines, or - for standard input")
        parser.add_argument(
            "--batch", type=int, default=1000, help="mailboxes per transaction (1 to 10000)"
        )

    def handle(self, *args, file: str, batch: int, **options) -> None:
        if not 1 <= batch <= 10_000:
            raise CommandError(f"--batch must be from 1 to 10000, not {batch}")
        # Read and decoded whole before anything is imported: a file that is not text
        # stops at once, never half-way.
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text (byte {exc.start})") from None
        result = mailboxes_import(lines=text.splitlines(), batch_size=batch)
        for number, reason in sorted(result.refused):
            self.stderr.write(f"line {number}: {reason}")
        summary = (
            f"{result.created} mailbox(es) created, {result.updated} updated, "
            f"{len(result.refused)} line(s) refused."
        )
        if result.refused:
            raise CommandError(summary)
        self.stdout.write(summary)
