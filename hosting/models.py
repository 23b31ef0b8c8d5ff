"""Mail hosting: customer accounts, their hostings, domains and mailboxes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class CustomerAccount(models.Model):
    name = models.CharField(_("name"), max_length=200)
    contact_email = models.EmailField(_("contact e-mail"))
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="customer_accounts", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("customer account")

    def __str__(self) -> str:
        return self.name


class HostingQuerySet(models.QuerySet["Hosting"]):
    def for_user(self, user) -> HostingQuerySet:
        return self.filter(customer__users=user)


class Hosting(models.Model):
    customer = models.ForeignKey(CustomerAccount, on_delete=models.PROTECT, related_name="hostings")
    name = models.CharField(_("name"), max_length=200, unique=True)
    # Staff may let one unblock through despite the 90-day rule; the unblock consumes it.
    exceptional_unblock_granted_at = models.DateTimeField(null=True, blank=True)
    exceptional_unblock_granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = HostingQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_exceptional_unblock(self) -> bool:
        return self.exceptional_unblock_granted_at is not None


class SystemUser(models.Model):
    """A Unix user that runs the hosting's website scripts. Mail a script submits with
    `sendmail` carries its uid in the Received line Postfix's pickup writes, which the
    script cannot forge: that mail counts for this hosting, whatever sender it claims."""

    hosting = models.ForeignKey(Hosting, on_delete=models.CASCADE, related_name="system_users")
    # One uid space across the provider's web servers (shared NSS/LDAP, as is usual).
    uid = models.PositiveIntegerField(_("system uid"), unique=True)

    class Meta:
        ordering = ["uid"]
        verbose_name = _("system user")

    def __str__(self) -> str:
        return f"uid {self.uid}"


class Domain(models.Model):
    hosting = models.ForeignKey(Hosting, on_delete=models.PROTECT, related_name="domains")
    name = models.CharField(_("domain"), max_length=253, unique=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(name=Lower("name")), name="domain_lowercase"),
        ]

    def __str__(self) -> str:
        return self.name


class Mailbox(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="mailboxes")
    address = models.EmailField(_("address"), max_length=254, unique=True)
    # Dovecot scheme-prefixed hash, e.g. "{BLF-CRYPT}$2y$10$…"; never the clear text.
    password_hash = models.CharField(max_length=255, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    # Suspended by staff: every login refused with the reason, which the customer reads;
    # incoming mail is still delivered and nothing is deleted.
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    suspended_reason = models.CharField(_("reason for the suspension"), max_length=300, blank=True)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Suspended for 90 days without a login or a message: the customer may reactivate it.
    suspended_for_inactivity = models.BooleanField(default=False)
    # The last successful login Dovecot reported (IMAP, POP3, SMTP AUTH).
    last_login_at = models.DateTimeField(_("last login"), null=True, blank=True)
    # When the 7-day warning of an inactivity suspension was e-mailed (cleared by activity).
    inactivity_warned_at = models.DateTimeField(null=True, blank=True)
    # A reactivation starts the inactivity count again, as a login does.
    reactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "mailboxes"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(address=Lower("address")), name="mailbox_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.address

    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class AuditEvent(models.Model):
    """Who did what to what, when: the trail support staff and customers read."""

    class ActorKind(models.TextChoices):
        SYSTEM = "system", _("system")
        CUSTOMER = "customer", _("customer")
        STAFF = "staff", _("staff")

    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    action = models.CharField(max_length=64, db_index=True)
    hosting = models.ForeignKey(
        Hosting, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    subject = models.CharField(max_length=300, blank=True, help_text="address, domain or object")
    data = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["hosting", "-created_at"], name="audit_hosting_recent")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.subject}"
