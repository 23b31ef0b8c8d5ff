from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from http import HTTPStatus

from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webhooks.events import Event


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class EndpointQuerySet(models.QuerySet["Endpoint"]):
    def active(self) -> EndpointQuerySet:
        return self.filter(is_active=True)


class Endpoint(models.Model):
    """A URL of the provider's systems that receives the events it subscribed to."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    secret = models.CharField(
        max_length=100,
        default=new_secret,
        help_text="Signs every delivery (HMAC-SHA256); give it to the receiver.",
    )
    # A list of Event values (JSON: the SQLite demo has no arrays).
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    def wants(self, event: str) -> bool:
        return self.is_active and event in self.events


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def pending(self) -> DeliveryQuerySet:
        return self.filter(delivered_at__isnull=True, failed_at__isnull=True)

    def due(self, now: datetime) -> DeliveryQuerySet:
        """Pending, due, and not being sent by a worker right now."""
        return (
            self.pending()
            .filter(next_attempt_at__lte=now)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        )


class Delivery(models.Model):
    """One event for one endpoint: its body (sent byte for byte on every attempt) and
    where its sending stands."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    # What the receiver deduplicates on: the same on every attempt.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=32, choices=Event.choices)
    # What happened, once ("block.started:42"): an event emitted again is not sent again.
    key = models.CharField(max_length=200)
    hosting_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    body = models.TextField()
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    # A worker sending it holds it until then; past it, a crashed worker's send is retried.
    leased_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Given up after a day.")
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "key"], name="delivery_once_per_event"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivered_at__isnull=True, failed_at__isnull=True),
                name="delivery_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.name}"

    @property
    def state(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.failed_at:
            return "failed"
        return "retrying" if self.attempts else "pending"


class Attempt(models.Model):
    """One POST of a delivery and what the receiver answered."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Why no status: the connection's error, or the destination refused. The receiver's
    # body is never kept (an internal service's reply is not for the admin's eyes).
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.status or self.error} at {self.at:%Y-%m-%d %H:%M:%S}"

    def answer(self) -> str:
        """The receiver's status with its standard phrase, or why there was none."""
        if self.status is None:
            return self.error
        try:
            return f"{self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return str(self.status)
