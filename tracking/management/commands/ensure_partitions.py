from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from tracking.partitions import CONTENTS, MESSAGES, partitioned, partitions_ensure, partitions_list


class Command(BaseCommand):
    help = (
        "Create the partitions of the message store for the coming four weeks (history) and "
        "hours (content), as the beat job does; then list what is there."
    )

    def handle(self, *args, **options) -> None:
        if not partitioned():
            self.stdout.write("This database keeps plain tables: no partitions to create.")
            return
        created = partitions_ensure(now=timezone.now())
        self.stdout.write(f"{created} partition(s) created.")
        for label, scheme in (("history", MESSAGES), ("content", CONTENTS)):
            ranges = partitions_list(scheme=scheme)
            if ranges:
                self.stdout.write(
                    f"{label}: {len(ranges)} partition(s), {ranges[0][0]:%Y-%m-%d %H:%M} to "
                    f"{ranges[-1][1]:%Y-%m-%d %H:%M} UTC"
                )
