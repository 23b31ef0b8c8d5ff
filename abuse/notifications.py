"""The e-mails a customer gets when one of their addresses or domains is suspended, or
nears a mail-abuse threshold (early warning)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import current_app as app  # the project's app, whichever process runs it
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from abuse.models import Block, PolicySettings, PolicyTier, Scope, SpamWarning
from webhooks.emails import email_send

log = logging.getLogger(__name__)
# Queued by name: the services that start blocks never import the tasks that call them.
NOTIFY_TASK = "abuse.tasks.notify_block"
WARNING_TASK = "abuse.tasks.notify_warning"


def block_notification_queue(block_id: int) -> None:
    """Queue the suspension e-mail of a block (call it after the commit)."""
    try:
        app.send_task(NOTIFY_TASK, args=[block_id])
    except Exception:  # broker down: the block stands; the notify-pending-blocks job sends it
        log.exception("could not queue the suspension e-mail of block %s", block_id)


def block_notify(*, block_id: int, now: datetime | None = None) -> bool:
    """E-mail the customer's contact address about a suspension, once: blocks of the hosting
    that started in the same instant (one message set them off) go in the same e-mail, and a
    target and code already told within the policy's quiet period are not told again. The row
    locks and `notified_at` make a retried task send nothing more; returns whether one went."""
    now = now or timezone.now()
    quiet = PolicySettings.load().notify_quiet_period
    with transaction.atomic():
        # Only standing blocks: one replaced or already over is no news to send.
        standing = Block.objects.active(now).filter(
            notified_at__isnull=True, tier__notify_customer=True
        )
        block = (
            standing.select_for_update(of=("self",))
            .select_related("tier", "hosting__customer")
            .filter(pk=block_id)
            .first()
        )
        if block is None:
            return False
        group = list(
            standing.select_for_update(of=("self",))
            .filter(hosting_id=block.hosting_id, started_at=block.started_at)
            .order_by("-rank", "target")
        )
        told = _recently_told(block.hosting_id, exclude=group, since=now - quiet)
        fresh = [b for b in group if (b.target, b.code) not in told]
        for b in group:
            if (b.target, b.code) in told:
                # Covered by the e-mail that told the customer then.
                Block.objects.filter(pk=b.pk).update(notified_at=told[(b.target, b.code)])
        if not fresh:
            return False
        _send(fresh, block.hosting)
        Block.objects.filter(pk__in=[b.pk for b in fresh]).update(notified_at=now)
    log.info(
        "suspension e-mail for %s sent to %s",
        ", ".join(f"{b.code} {b.target}" for b in fresh),
        block.hosting.customer.contact_email,
    )
    return True


def _recently_told(
    hosting_id: int, *, exclude: list[Block], since: datetime
) -> dict[tuple[str, str], datetime]:
    """(target, code) -> when the customer was last told of it, within the quiet period."""
    rows = (
        Block.objects.filter(hosting_id=hosting_id, notified_at__gt=since)
        .exclude(pk__in=[b.pk for b in exclude])
        .values_list("target", "code", "notified_at")
    )
    told: dict[tuple[str, str], datetime] = {}
    for target, code, at in rows:
        told[(target, code)] = max(at, told.get((target, code), at))
    return told


def warning_notification_queue(warning_id: int) -> None:
    """Queue an early-warning e-mail (call it after the commit)."""
    try:
        app.send_task(WARNING_TASK, args=[warning_id])
    except Exception:  # broker down: the pending-notifications job sends it
        log.exception("could not queue the early warning %s", warning_id)


def warning_notify(*, warning_id: int) -> bool:
    """Send an early warning once (row lock and `notified_at`); returns whether it went."""
    with transaction.atomic():
        warning = (
            SpamWarning.objects.select_for_update(of=("self",))
            .select_related("tier", "hosting__customer")
            .filter(pk=warning_id, notified_at__isnull=True)
            .first()
        )
        if warning is None:
            return False
        overtaken = Block.objects.for_target(warning.scope, warning.target).filter(
            rank__gte=warning.tier.rank, started_at__gte=warning.created_at
        )
        if overtaken.exists():
            # The threshold was reached before the warning went: the suspension e-mail
            # says it all (and a lift since is news of its own), a warning now would not.
            SpamWarning.objects.filter(pk=warning.pk).update(notified_at=timezone.now())
            return False
        account = warning.hosting.customer
        tier: PolicyTier = warning.tier
        with translation.override(account.language):
            site = settings.SITE_URL.rstrip("/")
            context = {
                "warning": warning,
                "account": account,
                "is_domain": warning.scope == Scope.DOMAIN,
                "window_days": tier.window.days,
                "interval_days": PolicySettings.load().unblock_interval.days,
                "abuse_url": site + reverse("mail-abuse", args=[warning.hosting_id]),
                "tracking_url": site + reverse("tracking", args=[warning.hosting_id]),
            }
            email_send(
                name="warning",
                context=context,
                to=[account.contact_email],
                message_id=f"warning-{warning.pk}",
                hosting_id=warning.hosting_id,
            )
        SpamWarning.objects.filter(pk=warning.pk).update(notified_at=timezone.now())
    return True


def _send(blocks: list[Block], hosting) -> None:
    account = hosting.customer
    with translation.override(account.language):
        context = {
            "blocks": blocks,
            "any_abuse": any(b.is_mail_abuse for b in blocks),
            "codes": ", ".join(dict.fromkeys(b.code for b in blocks)),
            "targets": ", ".join(b.target for b in blocks),
            "account": account,
            "hosting": hosting,
            "abuse_url": settings.SITE_URL.rstrip("/") + reverse("mail-abuse", args=[hosting.pk]),
        }
        email_send(
            name="suspension",
            context=context,
            to=[account.contact_email],
            message_id=f"suspension-{blocks[0].pk}",
            hosting_id=hosting.pk,
        )


# The task queued at the block's start goes first; this sweep only catches what it missed.
NOTIFY_GRACE = timedelta(minutes=15)


def blocks_notify_pending(*, now: datetime | None = None) -> int:
    """Send the suspension e-mails that were never sent (broker down when the block
    started, SMTP down past the task's retries) for blocks still standing, and the early
    warnings likewise; returns how many went out. The row locks keep it to one e-mail each."""
    now = now or timezone.now()
    pending = (
        Block.objects.unlifted()
        .filter(notified_at__isnull=True, tier__notify_customer=True)
        .filter(started_at__lte=now - NOTIFY_GRACE)
        .order_by("started_at")
        .values_list("pk", flat=True)
    )
    sent = sum(block_notify(block_id=pk) for pk in pending)
    warnings = SpamWarning.objects.filter(
        notified_at__isnull=True, created_at__lte=now - NOTIFY_GRACE
    ).values_list("pk", flat=True)
    return sent + sum(warning_notify(warning_id=pk) for pk in warnings)
