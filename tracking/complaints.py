"""Complaints beside their messages, for the pages and the API (the intake is
reputation/complaints.py)."""

from __future__ import annotations

from collections.abc import Iterable

from tracking.models import Complaint, OutboundMessage


def message_complaints(message: OutboundMessage) -> list[Complaint]:
    """The complaints about one message, oldest first."""
    return list(Complaint.objects.filter(message=message).order_by("received_at", "id"))


def messages_complaints_attach(messages: Iterable[OutboundMessage]) -> None:
    """Set each message's `complaints_seen` (oldest first) from one query."""
    messages = list(messages)
    by_message: dict[int, list[Complaint]] = {}
    if messages:
        for complaint in Complaint.objects.filter(message_id__in=[m.pk for m in messages]).order_by(
            "received_at", "id"
        ):
            by_message.setdefault(complaint.message_id, []).append(complaint)
    for message in messages:
        message.complaints_seen = by_message.get(message.pk, [])
