"""Every authentication attempt Dovecot reports, and the numbers of the brute-force defence."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from hosting.models import Hosting, Mailbox


class Protocol(models.TextChoices):
    IMAP = "imap", "IMAP"
    POP3 = "pop3", "POP3"
    SMTP = "smtp", "SMTP"
    OTHER = "other", _("other")


class Result(models.TextChoices):
    SUCCESS = "success", _("success")
    WRONG_PASSWORD = "wrong_password", _("wrong password")
    UNKNOWN_MAILBOX = "unknown_mailbox", _("unknown mailbox")
    REFUSED = "refused", _("refused")


class AccessAttemptQuerySet(models.QuerySet["AccessAttempt"]):
    def failed(self) -> AccessAttemptQuerySet:
        return self.exclude(result=Result.SUCCESS)


class AccessAttempt(models.Model):
    """One login as Dovecot reported it. No password, clear or hashed, is ever kept. The
    table is partitioned by `at` (mailaccess/partitions.py) and dropped after
    ACCESS_LOG_DAYS; no foreign key constraint, as for the message history."""

    at = models.DateTimeField(_("time"))
    # The report's own name: recording it twice stores it once (with `at`, as partitioned).
    uid = models.CharField(max_length=32)
    # The mailbox as typed (lower case), which may be no mailbox at all.
    login = models.CharField(_("mailbox"), max_length=254)
    mailbox = models.ForeignKey(
        Mailbox,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="access_attempts",
        db_constraint=False,
        db_index=False,  # attempt_mailbox_recent leads with it
    )
    # Whose log it is in: the mailbox's hosting, or the hosting of the domain typed.
    hosting = models.ForeignKey(
        Hosting,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="access_attempts",
        db_constraint=False,
        db_index=False,  # attempt_hosting_recent leads with it
    )
    protocol = models.CharField(_("protocol"), max_length=8, choices=Protocol.choices)
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    result = models.CharField(_("result"), max_length=16, choices=Result.choices)
    # Why a login was refused: the mail server's own words (L-HOLD …, L-AUTH …).
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    objects = AccessAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [models.UniqueConstraint(fields=["uid", "at"], name="attempt_once")]
        indexes = [
            models.Index(fields=["hosting", "-at", "-id"], name="attempt_hosting_recent"),
            models.Index(fields=["mailbox", "-at", "-id"], name="attempt_mailbox_recent"),
            models.Index(
                fields=["client_ip", "at"], condition=~Q(result="success"), name="attempt_ip_failed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.protocol} {self.login} {self.result}"


class LoginDefence(models.Model):
    """The brute-force defence's numbers (one row; DOMAIN's defaults). The provider's own
    networks are never delayed or refused."""

    delay_after = models.PositiveIntegerField(
        default=10, help_text="Failed logins from one IP in the delay window, then each waits."
    )
    delay_window_minutes = models.PositiveIntegerField(default=10)
    delay_seconds = models.PositiveIntegerField(default=5)
    refuse_after = models.PositiveIntegerField(
        default=30, help_text="Failed logins from one IP in the refusal window, then refused."
    )
    refuse_window_minutes = models.PositiveIntegerField(default=60)
    refuse_minutes = models.PositiveIntegerField(default=60, help_text="How long it is refused.")
    alert_after = models.PositiveIntegerField(
        default=50,
        help_text="Failed logins on one mailbox in an hour: the customer and staff hear.",
    )
    exempt_networks = models.JSONField(
        default=list,
        blank=True,
        help_text='The provider\'s own networks, never delayed nor refused: ["192.0.2.0/24"].',
    )

    class Meta:
        verbose_name = "login defence"
        verbose_name_plural = "login defence"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="one_login_defence")]

    def __str__(self) -> str:
        return "login defence"
