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

from abuse.models import Block
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


def block_notify(*, block_id: int) -> bool:
    """E-mail the customer's contact address about a block whose tier asks for it, once:
    the row lock and `notified_at` make a retried task send nothing more; returns whether
    an e-mail was sent."""
    with transaction.atomic():
        block = (
            Block.objects.select_for_update()
            .select_related("tier", "hosting__customer")
            .filter(pk=block_id, notified_at__isnull=True)
            .first()
        )
        if block is None or not block.tier.notify_customer:
            return False
        account = block.hosting.customer
        with translation.override(account.language):
            context = {
                "block": block,
                "account": account,
                "hosting": block.hosting,
                "abuse_url": settings.SITE_URL.rstrip("/")
                + reverse("mail-abuse", args=[block.hosting_id]),
                "started": timezone.localtime(block.started_at),
            }
            subject = render_to_string("emails/suspension-subject.txt", context).strip()
            text = render_to_string("emails/suspension-body.txt", context)
            html = render_to_string("emails/suspension-body.html", context)
        message = EmailMultiAlternatives(
            subject=" ".join(subject.split()),
            body=text,
            to=[account.contact_email],
            # The same Message-ID on a resend lets the receiving side see a duplicate.
            headers={"Message-ID": f"<suspension-{block.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"},
        )
        message.attach_alternative(html, "text/html")
        message.send()
        Block.objects.filter(pk=block.pk).update(notified_at=timezone.now())
    log.info(
        "suspension e-mail for %s %s sent to %s", block.code, block.target, account.contact_email
    )
    return True


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
