"""What the receivers say of the provider's mail: feedback-loop reports the panel could
not match (kept for staff), complaint-rate warnings, and the DNS blocklists' verdicts on
the outbound addresses."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hosting.models import Domain, Hosting


class Via(models.TextChoices):
    PIPE = "pipe", _("Postfix pipe (fbl_receive)")
    HTTP = "http", _("HTTP API")


class ParkedReport(models.Model):
    """A feedback report that matched no message, or that could not be read: kept whole,
    with the reason, until staff retry or delete it. Never dropped."""

    digest = models.CharField(max_length=64, unique=True)
    raw = models.BinaryField()
    via = models.CharField(max_length=8, choices=Via.choices)
    reason = models.CharField(max_length=500)
    reporter = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"report #{self.pk} {self.reason[:60]}"


class ComplaintWarning(models.Model):
    """A domain whose complaint rate over 30 days passed the early-warning rate: the
    customer warned and staff alerted, once per domain in 30 days."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="complaint_warnings")
    hosting = models.ForeignKey(
        Hosting, on_delete=models.CASCADE, related_name="complaint_warnings"
    )
    complaints = models.PositiveIntegerField()
    delivered = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["domain", "-created_at"], name="complaint_warning_recent")]

    def __str__(self) -> str:
        return f"complaints {self.domain_id} {self.created_at:%Y-%m-%d}"

    @property
    def rate(self) -> float:
        return self.complaints / self.delivered if self.delivered else 0.0


class OutboundAddress(models.Model):
    """An address the provider's mail leaves from, looked up in every blocklist zone."""

    address = models.GenericIPAddressField(unique=True)
    note = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "outbound addresses"

    def __str__(self) -> str:
        return self.address


class BlocklistZone(models.Model):
    """A DNS blocklist (DNSBL) zone the outbound addresses are looked up in."""

    zone = models.CharField(max_length=253, unique=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["zone"]

    def __str__(self) -> str:
        return self.zone


class BlocklistStatus(models.Model):
    """The last answer of one zone about one address, and since when it says so."""

    address = models.ForeignKey(OutboundAddress, on_delete=models.CASCADE, related_name="statuses")
    zone = models.ForeignKey(BlocklistZone, on_delete=models.CASCADE, related_name="statuses")
    # The last verdict the zone gave (an error gives none, and changes nothing here).
    listed = models.BooleanField(default=False)
    # The A records of the listing (127.0.0.2 ...), which say why in the zone's terms.
    codes = models.CharField(max_length=255, blank=True)
    # Why the last lookup gave no verdict; empty when it gave one.
    error = models.CharField(max_length=255, blank=True)
    checked_at = models.DateTimeField()
    # When the verdict last changed (first lookup: when it was first given).
    since = models.DateTimeField()

    class Meta:
        ordering = ["address", "zone"]
        verbose_name_plural = "blocklist statuses"
        constraints = [
            models.UniqueConstraint(fields=["address", "zone"], name="blocklist_status_once")
        ]
        indexes = [models.Index(fields=["zone"], condition=Q(listed=True), name="blocklist_listed")]

    def __str__(self) -> str:
        return f"{self.address} {self.zone} {'listed' if self.listed else 'clear'}"
