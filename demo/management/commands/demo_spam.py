from __future__ import annotations

import random
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from demo.sample_mail import sample_message
from hosting.models import Mailbox
from ingest.events import ingest_event_create
from tracking.models import IngestEvent


class Command(BaseCommand):
    help = (
        "Demo: N spam messages from ADDRESS, handed to the panel as Rspamd's push reports "
        "them, so the worker records them and starts blocks as in production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "address", help="a mailbox of the demo, e.g. marie@boulangerie-martin.fr"
        )
        parser.add_argument("count", nargs="?", type=int, default=1, help="how many (1-500)")
        parser.add_argument("--force", action="store_true", help="also with DEBUG off")

    def handle(self, *args, address: str, count: int, force: bool, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("demo_spam is for the demo (DJANGO_DEBUG=1); use --force.")
        if not 1 <= count <= 500:
            raise CommandError(f"count must be from 1 to 500, not {count}")
        mailbox = Mailbox.objects.filter(address=address.strip().lower()).first()
        if mailbox is None:
            raise CommandError(f"{address} is not a mailbox of this panel")
        rng = random.Random()
        with transaction.atomic():
            for _ in range(count):
                sample = sample_message(rng, sender=mailbox.address, spam=True, when=timezone.now())
                meta = {
                    "from": mailbox.address,
                    "rcpt": sample.recipients,
                    "user": mailbox.address,
                    "qid": f"DEMO{secrets.token_hex(5).upper()}",
                    "server": "demo-rspamd",
                    "ip": "203.0.113.24",
                    "score": sample.score,
                    "action": sample.action,
                    "subject": sample.subject,
                    "symbols": sample.symbols,
                }
                ingest_event_create(kind=IngestEvent.Kind.PUSH, meta=meta, raw=sample.raw)
        self.stdout.write(
            self.style.SUCCESS(
                f"{count} spam from {mailbox.address} queued; the worker records them and "
                "starts the blocks they call for (see the Mail Abuse page)."
            )
        )
