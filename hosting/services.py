"""Writes on hostings and mailboxes, and the audit trail every service writes to."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hosting.models import AuditEvent, Hosting, Mailbox
from hosting.passwords import dovecot_hash, dovecot_verify

MIN_MAILBOX_PASSWORD_LENGTH = 10
# BLF-CRYPT (bcrypt) reads the first 72 bytes only: a longer password would not be what
# the mail server checks, so it is refused rather than silently shortened.
MAX_MAILBOX_PASSWORD_BYTES = 72


class InvalidPassword(ValueError):
    pass


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


def mailbox_set_password(
    *, mailbox: Mailbox, password: str, user: AbstractBaseUser | None, client_ip: str | None = None
) -> None:
    """Store a new Dovecot-compatible hash for a mailbox, audited."""
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
    if mailbox.address.partition("@")[0].lower() in password.lower():
        raise InvalidPassword(_("The password must not contain the name of the address."))
    if password.strip().lower() == mailbox.address.lower():
        raise InvalidPassword(_("The password must not be the address itself."))
    try:
        password_validation.validate_password(
            password, password_validators=_common_password_validators()
        )
    except ValidationError as exc:
        raise InvalidPassword(" ".join(exc.messages)) from None
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
