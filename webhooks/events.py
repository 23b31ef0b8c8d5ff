"""The events a webhook endpoint can subscribe to, as the provider's systems receive them."""

from __future__ import annotations

from django.db import models


class Event(models.TextChoices):
    BLOCK_STARTED = "block.started", "block started (an address or domain stopped)"
    BLOCK_ESCALATED = "block.escalated", "block escalated (a stronger code replaced one)"
    BLOCK_LIFTED = "block.lifted", "block lifted (expired, by staff or by the customer)"
    HOSTING_UNBLOCKED = "hosting.unblocked", "hosting unblocked (Unblock mailboxes)"
    MAILBOX_HELD = "mailbox.held", "compromise hold (L-HOLD)"
    LIMIT_REACHED = "limit.reached", "sending limit reached (L-RATE), at most hourly"
    EMAIL_SENT = "email.sent", "e-mail sent to a customer or to staff"
    MESSAGE_BOUNCED = (
        "message.bounced",
        "a message bounced (the receiving server refused a recipient for good)",
    )
    MESSAGE_COMPLAINED = (
        "message.complained",
        "a recipient reported a message as spam (a feedback-loop complaint)",
    )
    BLOCKLIST_LISTED = "blocklist.listed", "an outbound address was listed in a DNS blocklist"
    BLOCKLIST_DELISTED = (
        "blocklist.delisted",
        "an outbound address is no longer listed in a DNS blocklist",
    )
