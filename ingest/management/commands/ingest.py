from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from ingest.events import ingest_event_create, scan_meta
from ingest.parsing import InvalidReport, clean_address, parse_sent_at
from tracking.mime import parse_message
from tracking.models import IngestEvent


def _messages(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            yield str(file), file.read_bytes()
        return
    with path.open("rb") as fh:
        is_mbox = fh.read(5) == b"From "
    if not is_mbox:
        yield str(path), path.read_bytes()
        return
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield f"{path}#{key}", box.get_bytes(key)
    finally:
        box.close()


def _count(path: Path) -> int | None:
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file())
    return None


class Command(BaseCommand):
    help = (
        "Queue raw messages (a file, a directory of files, or an mbox) to be scanned by "
        "Rspamd and recorded as sent by --user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="a message file, a directory of them, or an mbox")
        parser.add_argument("--user", required=True, help="the sending mailbox address")
        parser.add_argument(
            "--sent-at",
            help="ISO 8601 send time for every message (default: each message's Date header)",
        )

    def handle(self, *args, path: str, user: str, sent_at: str | None, **options) -> None:
        source = Path(path)
        if not source.exists():
            raise CommandError(f"{path}: no such file or directory")
        try:
            address = clean_address(user, field="--user", required=True)
            fixed_time = parse_sent_at(sent_at) if sent_at else None
        except InvalidReport as exc:
            raise CommandError(str(exc)) from exc
        queued, skipped = 0, []
        for name, raw in tqdm(_messages(source), total=_count(source), unit="msg", disable=None):
            try:
                meta = self._meta(raw, address, fixed_time)
            except InvalidReport as exc:
                skipped.append(f"{name}: {exc}")
                continue
            with transaction.atomic():
                ingest_event_create(kind=IngestEvent.Kind.SCAN, meta=meta, raw=raw)
            queued += 1
        for line in skipped:
            self.stderr.write(f"skipped {line}")
        self.stdout.write(f"{queued} message(s) queued for scanning, {len(skipped)} skipped.")
        if skipped:
            raise CommandError(f"{len(skipped)} message(s) could not be queued (see above)")

    @staticmethod
    def _meta(raw: bytes, address: str, fixed_time: datetime | None) -> dict:
        if not raw.strip():
            raise InvalidReport("empty message")
        msg, headers = parse_message(raw)
        when = fixed_time
        if when is None and msg.get("Date"):
            try:
                when = parsedate_to_datetime(str(msg["Date"]))
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is None:
                when = None
        return scan_meta(
            sender=address,
            recipients=headers.to,
            user=address,
            ip=None,
            queue_id=None,
            sent_at=when,
        )
