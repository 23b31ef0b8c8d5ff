"""Refuse to start with a drain linger that would hold recording back."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

# Above a second, spam would wait that long to be counted, and the drain's flag (2 s)
# could lapse between two rounds.
MAX_LINGER_MS = 1000


@register()
def drain_linger_in_range(app_configs, **kwargs) -> list[Error]:
    linger = settings.INGEST_DRAIN_LINGER_MS
    if 0 <= linger <= MAX_LINGER_MS:
        return []
    return [
        Error(
            f"INGEST_DRAIN_LINGER_MS={linger} is out of range",
            hint=f"Give milliseconds from 0 (never wait) to {MAX_LINGER_MS}.",
            id="lwsmail.E002",
        )
    ]
