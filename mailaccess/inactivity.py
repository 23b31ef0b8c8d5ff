"""Inactivity: a mailbox with no successful login and no message sent for 90 days
(counted from its creation, or its reactivation, if later) is suspended, its customer
e-mailed 7 days before with the mailboxes that will be. Incoming mail still arrives."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import translation

from hosting.models import Mailbox
from hosting.services import audit_record
from tracking.models import OutboundMessage
from webhooks.emails import email_send

log = logging.getLogger(__name__)

IDLE = timedelta(days=90)
WARNING = timedelta(days=7)
REASON = "no login and no message sent for 90 days"


@dataclass
class Swept:
    warned: list[str]
    suspended: list[str]


def _last_activity(mailbox: Mailbox) -> datetime:
    moments = [mailbox.created_at, mailbox.last_login_at, mailbox.reactivated_at, mailbox.last_sent]
    return max(m for m in moments if m is not None)


def _candidates(now: datetime) -> list[Mailbox]:
    # Idle for the warning's part of the period at least, by what the row says; the last
    # message sent is read per candidate (msg_mailbox_recent: one index probe each).
    early = now - (IDLE - WARNING)
    last_sent = OutboundMessage.objects.filter(mailbox=OuterRef("pk")).order_by("-sent_at")
    return list(
        Mailbox.objects.filter(suspended_at__isnull=True, created_at__lte=early)
        .filter(Q(last_login_at__isnull=True) | Q(last_login_at__lte=early))
        .filter(Q(reactivated_at__isnull=True) | Q(reactivated_at__lte=early))
        .annotate(last_sent=Subquery(last_sent.values("sent_at")[:1]))
        .select_related("domain__hosting__customer")
    )


def inactivity_sweep(*, now: datetime) -> Swept:
    """Warn the customers of mailboxes 83 days idle, suspend those 90 days idle and warned
    7 days ago at least; returns the addresses of each."""
    swept = Swept([], [])
    to_warn: dict[int, list[Mailbox]] = defaultdict(list)
    for mailbox in _candidates(now):
        idle_since = _last_activity(mailbox)
        warned = mailbox.inactivity_warned_at
        warned_now = warned is not None and warned >= idle_since + IDLE - WARNING
        if now - idle_since >= IDLE and warned_now and now - warned >= WARNING:
            if _suspend(mailbox, now=now, idle_since=idle_since):
                swept.suspended.append(mailbox.address)
        elif now - idle_since >= IDLE - WARNING and not warned_now:
            to_warn[mailbox.domain.hosting.customer_id].append(mailbox)
    for mailboxes in to_warn.values():
        swept.warned += _warn(mailboxes, now=now)
    return swept


def _suspend(mailbox: Mailbox, *, now: datetime, idle_since: datetime) -> bool:
    with transaction.atomic():
        changed = (
            Mailbox.objects.filter(pk=mailbox.pk, suspended_at__isnull=True)
            # Not if it logged in since it was read (a login writes last_login_at).
            .filter(Q(last_login_at__isnull=True) | Q(last_login_at__lte=idle_since))
            .update(suspended_at=now, suspended_reason=REASON, suspended_for_inactivity=True)
        )
        if changed:
            audit_record(
                action="mailbox.suspended",
                hosting=mailbox.domain.hosting_id,
                subject=mailbox.address,
                data={"reason": REASON, "inactivity": True},
                at=now,
            )
    return bool(changed)


def _warn(mailboxes: list[Mailbox], *, now: datetime) -> list[str]:
    """One e-mail to the account's contact for its mailboxes not warned yet."""
    with transaction.atomic():
        ids = [m.pk for m in mailboxes]
        claimed = list(
            Mailbox.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, suspended_at__isnull=True)
            .values_list("pk", flat=True)
        )
        Mailbox.objects.filter(pk__in=claimed).update(inactivity_warned_at=now)
        warned = [m for m in mailboxes if m.pk in claimed]
        if not warned:
            return []
        account = warned[0].domain.hosting.customer
        site = settings.SITE_URL.rstrip("/")
        context = {
            "account": account,
            "mailboxes": warned,
            "suspend_on": now + WARNING,
            "addresses_url": site + reverse("addresses", args=[warned[0].domain.hosting_id]),
        }
        for mailbox in warned:
            audit_record(
                action="mailbox.inactivity_warned",
                hosting=mailbox.domain.hosting_id,
                subject=mailbox.address,
                at=now,
            )
        with translation.override(account.language):
            email_send(
                name="inactivity",
                context=context,
                to=[account.contact_email],
                message_id=f"inactivity-{account.pk}-{now:%Y%m%d%H%M%S}",
                hosting_id=warned[0].domain.hosting_id,
            )
    return [m.address for m in warned]
