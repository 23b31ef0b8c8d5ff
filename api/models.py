from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from hosting.models import CustomerAccount, Hosting

PREFIX = "lws_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self, now: datetime | None = None) -> ApiTokenQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A key for the provider's systems: its scopes, the customers it may reach (none
    listed: all), and the staff member its writes are audited as. Only its hash is kept."""

    name = models.CharField(max_length=100, help_text="Who uses it: billing, client area…")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_tokens",
        limit_choices_to={"is_staff": True},
        help_text="The staff member every write through this token is audited as.",
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=12, editable=False, help_text="Its first characters.")
    scopes = models.JSONField(default=list)
    customers = models.ManyToManyField(
        CustomerAccount,
        blank=True,
        related_name="+",
        help_text="The customer accounts it reaches; none chosen: every one.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def hostings(self):
        """The hostings this token reaches."""
        customers = list(self.customers.values_list("pk", flat=True))
        hostings = Hosting.objects.all()
        return hostings.filter(customer__in=customers) if customers else hostings
