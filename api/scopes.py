"""What a token may do: each endpoint names the one scope it needs."""

from __future__ import annotations

from django.db import models


class Scope(models.TextChoices):
    HOSTINGS_READ = "hostings:read", "read hostings and their state"
    BLOCKS_READ = "blocks:read", "read blocks"
    BLOCKS_LIFT = "blocks:lift", "lift a block (as staff)"
    GRANTS_WRITE = "grants:write", "grant an exceptional unblock"
    UNBLOCK_WRITE = "unblock:write", "Unblock mailboxes on the customer's behalf"
    MESSAGES_READ = "messages:read", "search sent messages"
    MAILBOXES_READ = "mailboxes:read", "list mailboxes and their state"
    MAILBOXES_WRITE = (
        "mailboxes:write",
        "create, suspend, reactivate, delete mailboxes, set passwords",
    )
    DELIVERIES_WRITE = (
        "deliveries:write",
        "the mail-host agent: delivery results and the queue; reaches every customer",
    )
    COMPLAINTS_WRITE = (
        "complaints:write",
        "hand in feedback-loop reports (ARF) fetched elsewhere; reaches every customer",
    )
