"""Every outbound message, its Rspamd verdict, and its content for 72 hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hosting.models import Domain, Hosting, Mailbox

CONTENT_RETENTION = timedelta(hours=72)


class Source(models.TextChoices):
    MAILBOX = "mailbox", _("mailbox (SMTP)")
    WEBSITE = "website", _("website script")


class Status(models.TextChoices):
    SENT = "sent", _("sent")
    REJECTED = "rejected", _("rejected")
    BLOCKED = "blocked", _("blocked")


class OutboundMessageQuerySet(models.QuerySet["OutboundMessage"]):
    def spam(self) -> OutboundMessageQuerySet:
        return self.filter(is_spam=True)


class OutboundMessage(models.Model):
    # The message's identity: recording the same report twice stores it once. The table is
    # partitioned by send time, where no unique index can span partitions: the services
    # store each identity under its advisory lock (tracking/services.py).
    identity = models.CharField(max_length=64)
    # No foreign key constraints in the database (the ORM still protects): dropping a
    # partition would take an exclusive lock on every table its constraints reference,
    # stopping every page that reads a hosting while it waits.
    hosting = models.ForeignKey(
        Hosting,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_constraint=False,
        db_index=False,  # msg_hosting_recent leads with it
    )
    domain = models.ForeignKey(
        Domain,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_constraint=False,
    )
    mailbox = models.ForeignKey(
        Mailbox,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        db_constraint=False,
        db_index=False,  # msg_mailbox_recent leads with it
    )
    sender = models.CharField(_("sender"), max_length=254)
    authenticated_user = models.CharField(max_length=254, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    script = models.CharField(max_length=500, blank=True, help_text="Originating website script")
    recipients = models.JSONField(default=list)
    recipients_text = models.TextField(blank=True, help_text="Recipients joined, for search")
    subject = models.CharField(max_length=998, blank=True)
    size = models.PositiveIntegerField(default=0)
    rspamd_server = models.CharField(max_length=255, blank=True)
    queue_id = models.CharField(max_length=64, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    sent_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    score = models.FloatField()
    required_score = models.FloatField(null=True, blank=True)
    action = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENT)
    # Decided when recorded (score over the threshold, or rejected), so later threshold
    # edits never change what was already counted.
    is_spam = models.BooleanField(default=False)
    code = models.CharField(
        max_length=16, blank=True, help_text="L-SPAM code this message caused or met"
    )

    objects = OutboundMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        # Each index is planned and written for every partition: none is kept that another
        # one's leading column serves.
        indexes = [
            models.Index(fields=["identity"], name="msg_identity"),
            models.Index(fields=["hosting", "-sent_at", "-id"], name="msg_hosting_recent"),
            models.Index(fields=["mailbox", "-sent_at", "-id"], name="msg_mailbox_recent"),
            models.Index(
                fields=["mailbox", "sent_at"], condition=Q(is_spam=True), name="msg_mailbox_spam"
            ),
            models.Index(
                fields=["domain", "sent_at"], condition=Q(is_spam=True), name="msg_domain_spam"
            ),
            models.Index(
                fields=["-received_at"], condition=Q(domain__isnull=True), name="msg_unattributed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sent_at:%Y-%m-%d %H:%M} {self.sender} {self.subject[:40]}"

    def content_expires_at(self) -> datetime:
        return self.sent_at + CONTENT_RETENTION

    def content_available(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) < self.content_expires_at()


class MessageContent(models.Model):
    """The raw message and spam report, kept for 72 hours after sending."""

    message = models.OneToOneField(
        OutboundMessage,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="content",
        db_constraint=False,  # partitioned both: see Block.trigger_message
    )
    # The partition key (an hour a partition): the content sweep drops whole hours.
    expires_at = models.DateTimeField()
    raw = models.BinaryField()
    # Rspamd's symbols as it reports them: {name: {score, description, options}}.
    symbols = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"content of {self.message_id}"


class IngestEventQuerySet(models.QuerySet["IngestEvent"]):
    def pending(self) -> IngestEventQuerySet:
        """Waiting for a worker: not parked for staff."""
        return self.filter(parked_at__isnull=True)

    def parked(self) -> IngestEventQuerySet:
        return self.filter(parked_at__isnull=False)


class IngestEvent(models.Model):
    """A message handed to the panel, kept durably until the worker has recorded it.

    The endpoint answers only once this row is committed; the worker deletes it in the
    same transaction that records the message, so nothing is lost or counted twice."""

    class Kind(models.TextChoices):
        PUSH = "push", _("pushed by Rspamd")
        SCAN = "scan", _("to scan")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    received_at = models.DateTimeField(default=timezone.now)
    # Push: Rspamd's X-Rspamd-* values; scan: the envelope (from, rcpt, ip, user, queue id).
    meta = models.JSONField(default=dict)
    raw = models.BinaryField()
    # Last time a task was queued for it: the recovery sweep re-queues only stale ones.
    enqueued_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set when recording it failed for a reason a retry cannot cure (or retries ran out):
    # no worker takes it again until staff retry it from the admin.
    parked_at = models.DateTimeField(null=True, blank=True)

    objects = IngestEventQuerySet.as_manager()

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            models.Index(fields=["enqueued_at"], name="ingest_enqueued"),
            models.Index(fields=["id"], condition=Q(parked_at__isnull=True), name="ingest_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.received_at:%Y-%m-%d %H:%M:%S}"


class DeliveryStatus(models.TextChoices):
    DELIVERED = "delivered", _("delivered")
    DEFERRED = "deferred", _("deferred, retrying")
    BOUNCED = "bounced", _("bounced")
    EXPIRED = "expired", _("given up")


class Delivery(models.Model):
    """What the receiving server answered for one recipient, as Postfix logged it on `host`
    (the mail-host agent ships it: mxagent/). Joined to its message by queue id when read,
    so a result that comes before its message's Rspamd push waits for nothing."""

    host = models.CharField(max_length=255)
    queue_id = models.CharField(max_length=64)
    # "" for a message given up whole (expired: every recipient not yet delivered).
    recipient = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    dsn = models.CharField(max_length=16, blank=True)
    reply = models.TextField(blank=True)
    relay = models.CharField(max_length=255, blank=True)
    delay = models.FloatField(null=True, blank=True)
    logged_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["logged_at", "id"]
        constraints = [
            # A line shipped twice is stored once; its index also finds a message's results.
            models.UniqueConstraint(
                fields=["queue_id", "recipient", "logged_at", "status", "host"],
                name="delivery_once",
            )
        ]
        indexes = [models.Index(fields=["logged_at"], name="delivery_logged")]

    def __str__(self) -> str:
        return f"{self.queue_id} {self.recipient or '*'} {self.status}"


class QueuedMessage(models.Model):
    """A message the mail-host agent holds in Postfix's queue because its sender is blocked
    or held: the host's last report, replaced whole each time (mxagent/queue.py)."""

    host = models.CharField(max_length=255)
    queue_id = models.CharField(max_length=64)
    sender = models.CharField(max_length=254)
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=998, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(default=timezone.now)
    # Staff asked for it to be deleted from the queue (the agent does it, then reports).
    delete_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sender", "arrived_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["host", "queue_id"], name="queued_once"),
        ]
        indexes = [models.Index(fields=["sender"], name="queued_sender")]

    def __str__(self) -> str:
        return f"{self.host} {self.queue_id} {self.sender}"


class Complaint(models.Model):
    """A recipient's "this is spam", as the mailbox provider's feedback loop reported it
    (ARF, RFC 5965), matched to the message it is about (reputation/complaints.py)."""

    class MatchedBy(models.TextChoices):
        REFERENCE = "reference", _("signed reference")
        MESSAGE_ID = "message_id", _("Message-ID")
        QUEUE_ID = "queue_id", _("queue id")

    # The report's (reputation/complaints.py report_digest): a report delivered twice is
    # stored, and counted, once.
    digest = models.CharField(max_length=64, unique=True)
    message = models.ForeignKey(
        OutboundMessage,
        null=True,
        on_delete=models.SET_NULL,
        related_name="complaints",
        db_constraint=False,  # partitioned: see MessageContent.message
    )
    # The message's partition, to fetch it by primary key without visiting every one.
    message_sent_at = models.DateTimeField()
    # No constraints in the database, as for the messages (the ORM still cascades).
    hosting = models.ForeignKey(
        Hosting, on_delete=models.CASCADE, related_name="complaints", db_constraint=False
    )
    domain = models.ForeignKey(
        Domain, on_delete=models.CASCADE, related_name="complaints", db_constraint=False
    )
    # The mailbox provider whose user complained (the report's sender domain).
    reporter = models.CharField(max_length=255)
    feedback_type = models.CharField(max_length=32, blank=True)
    # When the provider received the message, as the report says.
    arrived_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    matched_by = models.CharField(max_length=16, choices=MatchedBy.choices)
    # This report made its message spam (the first complaint about it; later ones and
    # messages already spam count nothing more).
    counted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["hosting", "-received_at"], name="complaint_hosting_recent"),
            models.Index(fields=["domain", "received_at"], name="complaint_domain"),
        ]

    def __str__(self) -> str:
        return f"complaint from {self.reporter} {self.received_at:%Y-%m-%d %H:%M}"
