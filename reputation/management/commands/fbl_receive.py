from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from reputation.complaints import Outcome, feedback_report_receive
from reputation.models import Via

# Postfix's pipe reads these exit codes (sysexits.h): 75 makes it try again later, 65
# bounces the report to its sender with our message; 0 is delivered.
EX_DATAERR = 65
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = (
        "Read one feedback-loop report (ARF, RFC 5965) on standard input, as Postfix's pipe "
        "transport delivers it to the FBL address: stored once, matched to its message and "
        "counted, or parked for staff with the reason. Exit 75 when the database is "
        "unavailable (Postfix retries), 65 when the report is larger than FBL_MAX_BYTES."
    )

    def handle(self, *args, **options) -> None:
        limit = settings.FBL_MAX_BYTES
        raw = sys.stdin.buffer.read(limit + 1)
        if len(raw) > limit:
            self.stderr.write(f"fbl_receive: report larger than {limit} bytes, refused")
            sys.exit(EX_DATAERR)
        if not raw.strip():
            self.stderr.write("fbl_receive: nothing on standard input")
            sys.exit(EX_DATAERR)
        try:
            received = feedback_report_receive(raw=raw, via=Via.PIPE)
        except DatabaseError as exc:
            self.stderr.write(f"fbl_receive: database unavailable, try again later: {exc}")
            sys.exit(EX_TEMPFAIL)
        if received.outcome == Outcome.PARKED:
            self.stdout.write(f"parked as #{received.parked.pk}: {received.reason}")
        elif received.outcome == Outcome.DUPLICATE:
            self.stdout.write("duplicate: this report was received before")
        else:
            complaint = received.complaint
            blocks = f", started {', '.join(received.blocks)}" if received.blocks else ""
            self.stdout.write(
                f"{received.outcome}: complaint #{complaint.pk} from {complaint.reporter} "
                f"about message {complaint.message_id}{blocks}"
            )
