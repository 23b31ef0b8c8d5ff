"""Sending limits: recipients per hour, per day and per message, inherited from the server
default (staff) through the hosting (staff) to each domain and mailbox (the customer, who
may only go lower)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from lwsmail.models import Domain, Hosting, Mailbox

LIMIT_FIELDS = (
    "mailbox_per_hour",
    "mailbox_per_day",
    "domain_per_hour",
    "domain_per_day",
    "hosting_per_hour",
    "hosting_per_day",
    "per_message",
)


def _limit(help_text: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(null=True, blank=True, help_text=help_text)


class SendingLimits(models.Model):
    """The server default (no hosting: one row, seeded) or a hosting's own values (staff);
    an empty field of a hosting's row inherits the server default, an empty field of the
    server default means no limit."""

    hosting = models.OneToOneField(
        Hosting, null=True, blank=True, on_delete=models.CASCADE, related_name="sending_limits"
    )
    mailbox_per_hour = _limit("Recipients per mailbox per sliding hour.")
    mailbox_per_day = _limit("Recipients per mailbox per sliding 24 hours.")
    domain_per_hour = _limit("Recipients per domain (all its addresses) per sliding hour.")
    domain_per_day = _limit("Recipients per domain per sliding 24 hours.")
    hosting_per_hour = _limit("Recipients per hosting (every domain) per sliding hour.")
    hosting_per_day = _limit("Recipients per hosting per sliding 24 hours.")
    per_message = _limit("Recipients of one message.")

    FIELDS = LIMIT_FIELDS

    class Meta:
        verbose_name = "sending limits"
        verbose_name_plural = "sending limits"
        constraints = [
            # One server default: the row without a hosting (NULLs are distinct in a plain
            # unique constraint, and nulls_distinct is PostgreSQL-only).
            models.UniqueConstraint(
                Coalesce("hosting", Value(0)), name="sending_limits_one_server_default"
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": 1}),
                    name=f"sending_limits_{name}_positive",
                )
                for name in LIMIT_FIELDS
            ),
        ]

    def __str__(self) -> str:
        return f"Sending limits of {self.hosting}" if self.hosting_id else "Server default"


class OwnLimit(models.Model):
    """What a customer set for one of their domains or mailboxes: lower than inherited."""

    per_hour = models.PositiveIntegerField(_("recipients per hour"), null=True, blank=True)
    per_day = models.PositiveIntegerField(_("recipients per day"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class DomainLimit(OwnLimit):
    domain = models.OneToOneField(Domain, on_delete=models.CASCADE, related_name="own_limit")

    def __str__(self) -> str:
        return f"limit of {self.domain}"


class MailboxLimit(OwnLimit):
    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="own_limit")
    per_message = models.PositiveIntegerField(_("recipients per message"), null=True, blank=True)

    def __str__(self) -> str:
        return f"limit of {self.mailbox}"
