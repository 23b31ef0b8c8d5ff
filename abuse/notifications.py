"""The e-mail a customer gets when one of their addresses or domains is suspended."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from abuse.models import Block, PolicySettings
from lwsmail.celery import app

log = logging.getLogger(__name__)
# Queued by name: the services that start blocks never import the tasks that call them.
NOTIFY_TASK = "abuse.tasks.notify_block"


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
        subject = render_to_string("emails/suspension-subject.txt", context).strip()
        text = render_to_string("emails/suspension-body.txt", context)
        html = render_to_string("emails/suspension-body.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        to=[account.contact_email],
        # The same Message-ID on a resend lets the receiving side see a duplicate.
        headers={"Message-ID": f"<suspension-{blocks[0].pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"},
    )
    message.attach_alternative(html, "text/html")
    message.send()


# The task queued at the block's start goes first; this sweep only catches what it missed.
NOTIFY_GRACE = timedelta(minutes=15)


def blocks_notify_pending(*, now: datetime | None = None) -> int:
    """Send the suspension e-mails that were never sent (broker down when the block
    started, SMTP down past the task's retries) for blocks still standing; returns how many
    went out. block_notify's row lock keeps it to one e-mail each."""
    now = now or timezone.now()
    pending = (
        Block.objects.unlifted()
        .filter(notified_at__isnull=True, tier__notify_customer=True)
        .filter(started_at__lte=now - NOTIFY_GRACE)
        .order_by("started_at")
        .values_list("pk", flat=True)
    )
    return sum(block_notify(block_id=pk) for pk in pending)
