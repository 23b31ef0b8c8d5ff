"""Durations every floor counts in, in seconds."""

from __future__ import annotations

MINUTE = 60
HOUR = 3600
DAY = 86400
