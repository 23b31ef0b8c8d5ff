"""Changing sending limits: the customer's own (lower only) and staff's."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from limits.models import DomainLimit, MailboxLimit, SendingLimits
from limits.selectors import Window, domain_inherited, mailbox_limits
from limits.state import limits_publish, limits_rebuild
from lwsmail.models import Domain, Mailbox
from lwsmail.services import audit_record


class LimitTooHigh(ValueError):
    """A customer asked for more than their domain or mailbox inherits."""


def _check(value: int | None, inherited: int | None, what: str) -> None:
    if value is None:
        return
    if value < 1:
        raise LimitTooHigh(f"The {what} is at least 1 recipient.")
    if inherited is not None and value > inherited:
        raise LimitTooHigh(f"The {what} can be at most {inherited}, the limit it inherits.")


def mailbox_limit_set(
    *,
    mailbox: Mailbox,
    per_hour: int | None,
    per_day: int | None,
    per_message: int | None,
    user: AbstractBaseUser | None,
    client_ip: str | None = None,
) -> MailboxLimit:
    """Set a mailbox's own limits (empty: the inherited ones), never above the inherited."""
    limits = mailbox_limits(mailbox)
    _check(per_hour, limits.inherited_mailbox.per_hour, "hourly limit")
    _check(per_day, limits.inherited_mailbox.per_day, "daily limit")
    _check(per_message, limits.inherited_per_message, "per-message limit")
    hosting = mailbox.domain.hosting
    with transaction.atomic():
        row, _ = MailboxLimit.objects.update_or_create(
            mailbox=mailbox,
            defaults={"per_hour": per_hour, "per_day": per_day, "per_message": per_message},
        )
        audit_record(
            action="mailbox.limits_changed",
            actor=user,
            hosting=hosting.pk,
            subject=mailbox.address,
            data={"per_hour": per_hour, "per_day": per_day, "per_message": per_message},
            client_ip=client_ip,
        )
        limits_publish(hosting=hosting)
    return row


def domain_limit_set(
    *,
    domain: Domain,
    per_hour: int | None,
    per_day: int | None,
    user: AbstractBaseUser | None,
    client_ip: str | None = None,
) -> DomainLimit:
    """Set a domain's own limits (empty: the inherited ones), never above the inherited."""
    inherited: Window = domain_inherited(domain)
    _check(per_hour, inherited.per_hour, "hourly limit")
    _check(per_day, inherited.per_day, "daily limit")
    with transaction.atomic():
        row, _ = DomainLimit.objects.update_or_create(
            domain=domain, defaults={"per_hour": per_hour, "per_day": per_day}
        )
        audit_record(
            action="domain.limits_changed",
            actor=user,
            hosting=domain.hosting_id,
            subject=domain.name,
            data={"per_hour": per_hour, "per_day": per_day},
            client_ip=client_ip,
        )
        limits_publish(hosting=domain.hosting)
    return row


def sending_limits_published(*, row: SendingLimits) -> None:
    """After staff saved a row: publish its hosting, or everything for the server default."""
    if row.hosting_id is None:
        transaction.on_commit(limits_rebuild)
    else:
        limits_publish(hosting=row.hosting)
