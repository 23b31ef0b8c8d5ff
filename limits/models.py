"""Sending limits: recipients per hour, per day and per message, inherited from the server
default (staff) through the hosting (staff) to each domain and mailbox (the customer, who
may only go lower)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from hosting.models import Domain, Hosting, Mailbox

LIMIT_FIELDS = (
    "mailbox_per_hour",
    "mailbox_per_day",
    "domain_per_hour",
    "domain_per_day",
    "hosting_per_hour",
    "hosting_per_day",
    "per_message",
)


# (per hour, per day) of one scope: an hourly limit above the daily one can never be reached.
HOUR_DAY_PAIRS = (
    ("mailbox_per_hour", "mailbox_per_day"),
    ("domain_per_hour", "domain_per_day"),
    ("hosting_per_hour", "hosting_per_day"),
)


def hourly_above_daily(
    values: dict[str, int | None], pairs: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    """The (hour, day) pairs whose hourly value exceeds the daily one, both being set."""
    return [
        (hour, day)
        for hour, day in pairs
        if values.get(hour) is not None
        and values.get(day) is not None
        and values[hour] > values[day]
    ]


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

    def impossible_pairs(self) -> list[tuple[str, str]]:
        """The scopes of this row whose hourly limit exceeds its daily one."""
        return hourly_above_daily({n: getattr(self, n) for n in LIMIT_FIELDS}, HOUR_DAY_PAIRS)


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


class HoldSettings(models.Model):
    """The thresholds of compromise detection (one row, seeded; staff edit it)."""

    enabled = models.BooleanField(default=True)
    volume_factor = models.PositiveSmallIntegerField(
        default=10, help_text="Held above this many times the mailbox's baseline in one hour."
    )
    volume_floor = models.PositiveIntegerField(
        default=50, help_text="Recipients in one hour never held for volume."
    )
    history_days = models.PositiveSmallIntegerField(
        default=14,
        help_text="Days of recorded sending a mailbox needs before it can be held for volume "
        "(a newer one is bounded by its sending limits only). At most the baseline's days.",
    )
    baseline_days = models.PositiveSmallIntegerField(
        default=30, help_text="Days of recorded history the baseline is computed from."
    )
    baseline_percentile = models.PositiveSmallIntegerField(
        default=95, help_text="Percentile of the mailbox's hourly volume that is its baseline."
    )
    max_networks = models.PositiveSmallIntegerField(
        default=5, help_text="Held when it authenticates from more client networks in one hour."
    )
    ipv4_prefix = models.PositiveSmallIntegerField(
        default=24, help_text="An IPv4 client network is this long a prefix."
    )
    ipv6_prefix = models.PositiveSmallIntegerField(
        default=48, help_text="An IPv6 client network is this long a prefix."
    )

    class Meta:
        verbose_name = "compromise detection settings"
        verbose_name_plural = "compromise detection settings"
        constraints = [
            models.CheckConstraint(condition=Q(volume_factor__gte=1), name="hold_factor_min"),
            models.CheckConstraint(condition=Q(volume_floor__gte=1), name="hold_floor_min"),
            models.CheckConstraint(
                condition=Q(baseline_days__gte=1, baseline_days__lte=366), name="hold_days_range"
            ),
            models.CheckConstraint(
                condition=Q(baseline_percentile__gte=1, baseline_percentile__lte=100),
                name="hold_percentile_range",
            ),
            models.CheckConstraint(
                condition=Q(history_days__gte=1, history_days__lte=F("baseline_days")),
                name="hold_history_within_baseline",
            ),
            models.CheckConstraint(condition=Q(max_networks__gte=1), name="hold_networks_min"),
            models.CheckConstraint(
                condition=Q(ipv4_prefix__gte=8, ipv4_prefix__lte=32), name="hold_ipv4_range"
            ),
            models.CheckConstraint(
                condition=Q(ipv6_prefix__gte=16, ipv6_prefix__lte=128), name="hold_ipv6_range"
            ),
        ]

    def __str__(self) -> str:
        return "Compromise detection settings"

    @classmethod
    def load(cls) -> HoldSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj

    def volume_threshold(self, baseline: int) -> int:
        """Recipients in one hour above which a mailbox with this baseline is held."""
        return max(self.volume_floor, self.volume_factor * baseline)


class MailboxBaseline(models.Model):
    """A mailbox's usual hourly volume, from recorded history (absent: nothing sent in the
    baseline's days)."""

    mailbox = models.OneToOneField(
        Mailbox, primary_key=True, on_delete=models.CASCADE, related_name="baseline"
    )
    hourly = models.PositiveIntegerField(help_text="Recipients per hour, at the percentile.")
    # Its first message sent in the baseline's days: how long a history it has.
    first_sent_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"baseline of {self.mailbox}"

    def holds_for_volume(self, *, history_days: int, now: datetime) -> bool:
        """Whether it has sent long enough to be held for volume (docs/rules.md: 14 days)."""
        if self.first_sent_at is None:
            # A row computed before the first message was kept (the upgrade): it had a
            # baseline, 37 busy hours at least, so it is no new mailbox; the next
            # computation (every 6 hours) writes its first message.
            return True
        return self.first_sent_at <= now - timedelta(days=history_days)


class HoldQuerySet(models.QuerySet["Hold"]):
    def standing(self) -> HoldQuerySet:
        return self.filter(lifted_at__isnull=True)


class Hold(models.Model):
    """A mailbox stopped because it behaved as a stolen password would (L-HOLD)."""

    CODE = "L-HOLD"

    class Reason(models.TextChoices):
        VOLUME = "volume", _("far more recipients than usual")
        NETWORKS = "networks", _("logins from too many networks")

    class LiftReason(models.TextChoices):
        PASSWORD = "password", _("password changed")
        STAFF = "staff", _("lifted by support")

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="holds")
    hosting = models.ForeignKey(Hosting, on_delete=models.CASCADE, related_name="holds")
    # The policy service's name for the hold: a retried record never makes two.
    token = models.CharField(max_length=32, unique=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    started_at = models.DateTimeField()
    observed = models.PositiveIntegerField(help_text="Recipients in the hour, or networks.")
    threshold = models.PositiveIntegerField()
    networks = models.JSONField(default=list, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lift_reason = models.CharField(max_length=16, choices=LiftReason.choices, blank=True)

    objects = HoldQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox"],
                condition=Q(lifted_at__isnull=True),
                name="one_standing_hold_per_mailbox",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.CODE} {self.mailbox}"

    @property
    def code(self) -> str:
        return self.CODE

    def is_standing(self) -> bool:
        return self.lifted_at is None
