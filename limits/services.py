"""Changing sending limits: the customer's own (lower only) and staff's."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from abuse.enforcement.blockstate import redis_apply
from limits.models import DomainLimit, MailboxLimit, SendingLimits
from limits.selectors import own_limit_ceilings
from limits.state import limits_publish, limits_rebuild
from lwsmail.models import Domain, Mailbox
from lwsmail.services import audit_record


class LimitRefused(ValueError):
    """A customer's own limit that is not a count of recipients or exceeds the inherited."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def own_limit_set(
    *,
    target: Domain | Mailbox,
    values: dict[str, int | None],
    user: AbstractBaseUser | None,
    client_ip: str | None = None,
) -> DomainLimit | MailboxLimit:
    """Set a domain's or a mailbox's own limits (None: the inherited one), never above what
    it inherits; audited, and published to the policy service and Rspamd after the commit."""
    ceilings = own_limit_ceilings(target)
    for name, value in values.items():
        if name not in ceilings:
            raise LimitRefused(name, f"{target} has no {name} limit of its own.")
        if value is not None and value < 1:
            raise LimitRefused(name, _("A limit is at least 1 recipient."))
        if value is not None and ceilings[name] is not None and value > ceilings[name]:
            raise LimitRefused(
                name,
                _("At most %(n)d: a limit can only be lowered here, not raised.")
                % {"n": ceilings[name]},
            )
    if isinstance(target, Mailbox):
        model, scope, hosting = MailboxLimit, "mailbox", target.domain.hosting
    else:
        model, scope, hosting = DomainLimit, "domain", target.hosting
    with transaction.atomic():
        row, _created = model.objects.update_or_create(**{scope: target}, defaults=values)
        audit_record(
            action=f"{scope}.limits_changed",
            actor=user,
            hosting=hosting.pk,
            subject=str(target),
            data=values,
            client_ip=client_ip,
        )
        limits_publish(hosting=hosting)
    return row


def sending_limits_published(*, row: SendingLimits) -> None:
    """After staff saved a row: publish its hosting, or everything for the server default."""
    if row.hosting_id is None:
        # A Redis failure is logged, never the staff member's error: the beat job rebuilds.
        transaction.on_commit(lambda: redis_apply(limits_rebuild, "every sending limit"))
    else:
        limits_publish(hosting=row.hosting)
