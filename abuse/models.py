"""The L-SPAM policy table, blocks and unblocks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hosting.models import Domain, Hosting, Mailbox


class Scope(models.TextChoices):
    ADDRESS = "address", _("address")
    DOMAIN = "domain", _("domain")


class PolicySettings(models.Model):
    """The single row of numbers that are not per tier (seeded by a data migration)."""

    spam_score_threshold = models.FloatField(
        default=8.0, help_text="A message scoring strictly more than this is spam."
    )
    unblock_interval = models.DurationField(
        default=timedelta(days=90), help_text="One Mail Abuse unblock per hosting per interval."
    )
    notify_quiet_period = models.DurationField(
        default=timedelta(hours=24),
        help_text="At most one suspension e-mail per address (or domain) and code in this long.",
    )

    class Meta:
        verbose_name = "policy settings"
        verbose_name_plural = "policy settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(notify_quiet_period__gte=timedelta(0)),
                name="policy_notify_quiet_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(unblock_interval__gte=timedelta(0)),
                name="policy_unblock_interval_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return "Policy settings"

    @classmethod
    def load(cls) -> PolicySettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class PolicyTierQuerySet(models.QuerySet["PolicyTier"]):
    def enabled(self) -> PolicyTierQuerySet:
        return self.filter(enabled=True)


class PolicyTier(models.Model):
    """One row of docs/rules.md's table: a code, what it counts and the block it starts."""

    code = models.CharField(max_length=16, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    rank = models.PositiveSmallIntegerField(
        unique=True, help_text="Severity: the higher, the stronger. The strongest code wins."
    )
    threshold = models.PositiveIntegerField(help_text="Spam messages in the window that fire it.")
    window = models.DurationField(
        help_text="Sliding window ending now; 0 means the message itself (immediate)."
    )
    block_duration = models.DurationField(
        null=True, blank=True, help_text="Empty: blocked until unblocked (mail abuse procedure)."
    )
    complaint_period = models.DurationField(
        null=True,
        blank=True,
        help_text="Mail abuse only: time after the block starts before the customer may unblock.",
    )
    notify_customer = models.BooleanField(
        default=False, help_text="E-mail the customer's contact address when this block starts."
    )
    enabled = models.BooleanField(default=True)

    objects = PolicyTierQuerySet.as_manager()

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=1), name="tier_threshold_positive"),
            models.CheckConstraint(
                condition=Q(block_duration__isnull=False) | Q(complaint_period__isnull=False),
                name="tier_abuse_has_complaint_period",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_mail_abuse(self) -> bool:
        return self.block_duration is None

    @property
    def is_immediate(self) -> bool:
        return self.window == timedelta(0)


class Unblock(models.Model):
    """One press of Unblock mailboxes (or a staff-granted exceptional one)."""

    hosting = models.ForeignKey(Hosting, on_delete=models.PROTECT, related_name="unblocks")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    used_exceptional_grant = models.BooleanField(default=False)
    lifted = models.JSONField(default=list, help_text="Codes and targets it lifted.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["hosting", "-created_at"], name="unblock_hosting_recent")]

    def __str__(self) -> str:
        return f"{self.hosting} {self.created_at:%Y-%m-%d %H:%M}"


class BlockQuerySet(models.QuerySet["Block"]):
    def unlifted(self) -> BlockQuerySet:
        return self.filter(lifted_at__isnull=True)

    def active(self, now: datetime | None = None) -> BlockQuerySet:
        now = now or timezone.now()
        return self.filter(lifted_at__isnull=True).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=now)
        )

    def mail_abuse(self) -> BlockQuerySet:
        return self.filter(ends_at__isnull=True)

    def expired(self, now: datetime | None = None) -> BlockQuerySet:
        now = now or timezone.now()
        return self.filter(lifted_at__isnull=True, ends_at__lte=now)

    def for_target(self, scope: str, target: str) -> BlockQuerySet:
        return self.filter(scope=scope, target=target)

    def of_targets(self, targets: Iterable[Any]) -> BlockQuerySet:
        """Blocks of any of the targets (abuse.counting.Target: `scope` and `name`)."""
        targets = list(targets)
        which = Q(pk__in=[])
        for scope in {t.scope for t in targets}:
            which |= Q(scope=scope, target__in={t.name for t in targets if t.scope == scope})
        return self.filter(which)


class Block(models.Model):
    """An address or a whole domain stopped from sending, for a while or until unblocked."""

    class LiftReason(models.TextChoices):
        EXPIRED = "expired", _("expired")
        ESCALATED = "escalated", _("replaced by a stronger block")
        UNBLOCK = "unblock", _("unblocked by the customer")
        STAFF = "staff", _("lifted by staff")

    scope = models.CharField(max_length=16, choices=Scope.choices)
    # The blocked address, or the domain name for a domain block: what the policy service matches.
    target = models.CharField(max_length=254)
    hosting = models.ForeignKey(Hosting, on_delete=models.PROTECT, related_name="blocks")
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="blocks")
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="blocks"
    )
    tier = models.ForeignKey(PolicyTier, on_delete=models.PROTECT, related_name="blocks")
    # Copied from the tier when the block starts, so editing the table never rewrites history.
    code = models.CharField(max_length=16, db_index=True)
    rank = models.PositiveSmallIntegerField()
    spam_count = models.PositiveIntegerField(help_text="Spam counted in the window when it fired.")
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until unblocked.")
    complaint_ends_at = models.DateTimeField(null=True, blank=True)
    trigger_message = models.ForeignKey(
        "tracking.OutboundMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # The message table is partitioned (tracking/partitions.py): its id is unique per
        # partition only, which a foreign key constraint cannot reference.
        db_constraint=False,
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lift_reason = models.CharField(max_length=16, choices=LiftReason.choices, blank=True)
    unblock = models.ForeignKey(
        Unblock, null=True, blank=True, on_delete=models.SET_NULL, related_name="blocks"
    )
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced"
    )
    # Set in the transaction that hands the suspension e-mail to the SMTP server.
    notified_at = models.DateTimeField(null=True, blank=True)

    objects = BlockQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # At most one standing block per target: escalation lifts the weaker one first.
            models.UniqueConstraint(
                fields=["scope", "target"],
                condition=Q(lifted_at__isnull=True),
                name="block_one_unlifted_per_target",
            ),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | ~Q(lift_reason=""),
                name="block_lift_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["scope", "target", "-lifted_at"], name="block_target_lifts"),
            models.Index(
                fields=["hosting"],
                condition=Q(lifted_at__isnull=True),
                name="block_hosting_unlifted",
            ),
            models.Index(
                fields=["ends_at"],
                condition=Q(lifted_at__isnull=True, ends_at__isnull=False),
                name="block_timed_unlifted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.target}"

    @property
    def is_mail_abuse(self) -> bool:
        return self.ends_at is None

    def is_active(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.lifted_at is None and (self.ends_at is None or self.ends_at > now)


class SpamWarning(models.Model):
    """The customer told that an address or domain nears a mail-abuse threshold: at most
    one per target and code per window of that code's tier."""

    scope = models.CharField(max_length=16, choices=Scope.choices)
    target = models.CharField(max_length=254)
    hosting = models.ForeignKey(Hosting, on_delete=models.CASCADE, related_name="spam_warnings")
    tier = models.ForeignKey(PolicyTier, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=16)
    spam_count = models.PositiveIntegerField()
    threshold = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["scope", "target", "code", "-created_at"], name="warning_recent")
        ]

    def __str__(self) -> str:
        return f"warning {self.code} {self.target}"


class BounceWarning(models.Model):
    """An address or domain whose hard bounces (DSN 5.1.x: no such user or domain) passed
    the rate over 7 days (abuse/bounces.py): the customer warned and staff alerted, at
    most once per target in 7 days. It blocks nothing."""

    scope = models.CharField(max_length=16, choices=Scope.choices)
    target = models.CharField(max_length=254)
    hosting = models.ForeignKey(Hosting, on_delete=models.CASCADE, related_name="bounce_warnings")
    bounced = models.PositiveIntegerField()
    recipients = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["scope", "target", "-created_at"], name="bounce_recent")]

    def __str__(self) -> str:
        return f"bounces {self.target}"

    @property
    def rate(self) -> float:
        return self.bounced / self.recipients if self.recipients else 0.0
