"""Writes on hostings and mailboxes, and the audit trail every service writes to."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hosting.models import AuditEvent, Domain, Hosting, Mailbox
from hosting.passwords import HashRefused, dovecot_hash, dovecot_verify, hash_check

MIN_MAILBOX_PASSWORD_LENGTH = 10
# BLF-CRYPT (bcrypt) reads the first 72 bytes only: a longer password would not be what
# the mail server checks, so it is refused rather than silently shortened.
MAX_MAILBOX_PASSWORD_BYTES = 72


class InvalidPassword(ValueError):
    pass


class MailboxRefused(ValueError):
    """A mailbox that cannot be created as asked, and why."""


@functools.cache
def _common_password_validators() -> list:
    # Django's own lists and messages (translated): among the 20,000 most common passwords,
    # or digits only. Loaded once, when the first password is set.
    return password_validation.get_password_validators(
        [
            {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
            {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
        ]
    )


def _actor_kind(user: AbstractBaseUser | None) -> str:
    if user is None:
        return AuditEvent.ActorKind.SYSTEM
    return AuditEvent.ActorKind.STAFF if user.is_staff else AuditEvent.ActorKind.CUSTOMER


def audit_event(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    hosting: Hosting | int | None = None,
    subject: str = "",
    data: dict[str, Any] | None = None,
    client_ip: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """One event of the audit trail, not yet saved (for bulk_create)."""
    return AuditEvent(
        created_at=at or timezone.now(),
        actor=actor,
        actor_kind=_actor_kind(actor),
        action=action,
        hosting_id=hosting.pk if isinstance(hosting, Hosting) else hosting,
        subject=subject[:300],
        data=data or {},
        client_ip=client_ip,
    )


def audit_record(**kwargs: Any) -> AuditEvent:
    """Append one event to the audit trail (the arguments of audit_event)."""
    event = audit_event(**kwargs)
    event.save(force_insert=True)
    return event


def password_check(*, address: str, password: str) -> None:
    """InvalidPassword with the reason, in the reader's language, if `password` may not
    protect `address`."""
    if len(password) < MIN_MAILBOX_PASSWORD_LENGTH:
        raise InvalidPassword(
            _("The password must be at least %(n)d characters long.")
            % {"n": MIN_MAILBOX_PASSWORD_LENGTH}
        )
    if len(password.encode("utf-8")) > MAX_MAILBOX_PASSWORD_BYTES:
        raise InvalidPassword(
            _("The password must be at most %(n)d bytes long (accented letters count as two).")
            % {"n": MAX_MAILBOX_PASSWORD_BYTES}
        )
    if "\x00" in password:
        raise InvalidPassword(_("The password must not contain a NUL character."))
    if address.partition("@")[0].lower() in password.lower():
        raise InvalidPassword(_("The password must not contain the name of the address."))
    if password.strip().lower() == address.lower():
        raise InvalidPassword(_("The password must not be the address itself."))
    try:
        password_validation.validate_password(
            password, password_validators=_common_password_validators()
        )
    except ValidationError as exc:
        raise InvalidPassword(" ".join(exc.messages)) from None


def mailbox_set_password(
    *, mailbox: Mailbox, password: str, user: AbstractBaseUser | None, client_ip: str | None = None
) -> None:
    """Store a new Dovecot-compatible hash for a mailbox, audited."""
    password_check(address=mailbox.address, password=password)
    if mailbox.password_hash and dovecot_verify(password, mailbox.password_hash):
        # A stolen password is the usual cause of a block: the old one must go.
        raise InvalidPassword(_("Choose a new password, not the one this address has now."))
    now = timezone.now()
    with transaction.atomic():
        Mailbox.objects.filter(pk=mailbox.pk).update(
            password_hash=dovecot_hash(password), password_changed_at=now
        )
        audit_record(
            action="mailbox.password_changed",
            actor=user,
            hosting=mailbox.domain.hosting_id,
            subject=mailbox.address,
            client_ip=client_ip,
            at=now,
        )
    mailbox.refresh_from_db(fields=["password_hash", "password_changed_at"])


def hosting_grant_exceptional_unblock(
    *, hosting: Hosting, user: AbstractBaseUser, client_ip: str | None = None
) -> bool:
    """Let the hosting's next unblock through despite the 90-day rule, once; False if pending."""
    now = timezone.now()
    with transaction.atomic():
        changed = Hosting.objects.filter(
            pk=hosting.pk, exceptional_unblock_granted_at__isnull=True
        ).update(exceptional_unblock_granted_at=now, exceptional_unblock_granted_by=user)
        if changed:
            audit_record(
                action="hosting.exceptional_unblock_granted",
                actor=user,
                hosting=hosting,
                subject=hosting.name,
                at=now,
                client_ip=client_ip,
            )
    hosting.refresh_from_db(
        fields=["exceptional_unblock_granted_at", "exceptional_unblock_granted_by"]
    )
    return bool(changed)


def mailbox_create(
    *,
    domain: Domain,
    address: str,
    password: str = "",
    password_hash: str = "",
    user: AbstractBaseUser | None,
    client_ip: str | None = None,
) -> Mailbox:
    """Create a mailbox of `domain` with a clear password (checked, then hashed) or a hash
    it had elsewhere, audited (MailboxRefused, InvalidPassword)."""
    address = address.strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise MailboxRefused(f"{address[:100]!r} is not an e-mail address") from None
    if address.rpartition("@")[2] != domain.name:
        raise MailboxRefused(f"{address} is not an address of {domain.name}")
    if bool(password) == bool(password_hash):
        raise MailboxRefused("give either a password or a password hash")
    if password:
        password_check(address=address, password=password)
        stored = dovecot_hash(password)
    else:
        try:
            stored = hash_check(password_hash)
        except HashRefused as exc:
            raise MailboxRefused(str(exc)) from None
    now = timezone.now()
    try:
        with transaction.atomic():
            mailbox = Mailbox.objects.create(
                domain=domain, address=address, password_hash=stored, password_changed_at=now
            )
            audit_record(
                action="mailbox.created",
                actor=user,
                hosting=domain.hosting_id,
                subject=address,
                data={"scheme": stored[1 : stored.index("}")]},
                client_ip=client_ip,
                at=now,
            )
    except IntegrityError:
        raise MailboxRefused(f"{address} exists already") from None
    return mailbox


def mailbox_suspend(
    *, mailbox: Mailbox, reason: str, user: AbstractBaseUser, client_ip: str | None = None
) -> bool:
    """Refuse every login of a mailbox, with a reason the customer reads; False if it was
    suspended already (its reason is kept)."""
    reason = " ".join(reason.split())[:300]
    if not reason:
        raise MailboxRefused("give the reason the customer will read")
    now = timezone.now()
    with transaction.atomic():
        changed = Mailbox.objects.filter(pk=mailbox.pk, suspended_at__isnull=True).update(
            suspended_at=now, suspended_reason=reason, suspended_by=user
        )
        if changed:
            audit_record(
                action="mailbox.suspended",
                actor=user,
                hosting=mailbox.domain.hosting_id,
                subject=mailbox.address,
                data={"reason": reason},
                client_ip=client_ip,
                at=now,
            )
    mailbox.refresh_from_db(fields=["suspended_at", "suspended_reason", "suspended_by"])
    return bool(changed)


def mailbox_reactivate(
    *, mailbox: Mailbox, user: AbstractBaseUser | None, client_ip: str | None = None
) -> bool:
    """Let a suspended mailbox log in again, audited; False if it was not suspended."""
    now = timezone.now()
    with transaction.atomic():
        changed = Mailbox.objects.filter(pk=mailbox.pk, suspended_at__isnull=False).update(
            suspended_at=None,
            suspended_reason="",
            suspended_by=None,
            suspended_for_inactivity=False,
            inactivity_warned_at=None,
            reactivated_at=now,
        )
        if changed:
            audit_record(
                action="mailbox.reactivated",
                actor=user,
                hosting=mailbox.domain.hosting_id,
                subject=mailbox.address,
                client_ip=client_ip,
            )
    mailbox.refresh_from_db(
        fields=["suspended_at", "suspended_reason", "suspended_by", "suspended_for_inactivity"]
    )
    return bool(changed)


def mailbox_delete(
    *, mailbox: Mailbox, user: AbstractBaseUser | None, client_ip: str | None = None
) -> None:
    """Delete a mailbox (no login opens it from now on); its sent mail, blocks and audit
    trail stay, by address."""
    with transaction.atomic():
        audit_record(
            action="mailbox.deleted",
            actor=user,
            hosting=mailbox.domain.hosting_id,
            subject=mailbox.address,
            client_ip=client_ip,
        )
        mailbox.delete()
