"""The e-mails of a compromise hold: the customer is told to change the password, staff
are alerted."""

from __future__ import annotations

import logging

from celery import current_app as app  # the project's app, whichever process runs it
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from limits.models import Hold
from webhooks.emails import email_send, staff_recipients

log = logging.getLogger(__name__)
NOTIFY_TASK = "limits.tasks.notify_hold"


def hold_notification_queue(hold_id: int) -> None:
    """Queue a hold's e-mails (call it after the commit)."""
    try:
        app.send_task(NOTIFY_TASK, args=[hold_id])
    except Exception:  # broker down: the hold stands; the sync job sends what is pending
        log.exception("could not queue the e-mails of hold %s", hold_id)


def hold_notify(*, hold_id: int) -> bool:
    """Send a standing hold's e-mails once (the row lock and `notified_at` make a retried
    task send nothing more); returns whether they went."""
    with transaction.atomic():
        hold = (
            Hold.objects.standing()
            .filter(pk=hold_id, notified_at__isnull=True)
            .select_for_update(of=("self",))
            .select_related("mailbox", "hosting__customer")
            .first()
        )
        if hold is None:
            return False
        _send_customer(hold)
        _send_staff(hold)
        Hold.objects.filter(pk=hold.pk).update(notified_at=timezone.now())
    log.info("hold of %s told to %s", hold.mailbox, hold.hosting.customer.contact_email)
    return True


def holds_pending() -> list[int]:
    """Standing holds whose e-mails never went (their task lost)."""
    return list(
        Hold.objects.standing().filter(notified_at__isnull=True).values_list("pk", flat=True)
    )


def _send_customer(hold: Hold) -> None:
    account = hold.hosting.customer
    site = settings.SITE_URL.rstrip("/")
    password_url = reverse("mailbox-password", args=[hold.hosting_id, hold.mailbox_id])
    with translation.override(account.language):
        context = {"hold": hold, "account": account, "password_url": site + password_url}
        email_send(
            name="hold",
            context=context,
            to=[account.contact_email],
            message_id=f"hold-{hold.pk}",
            hosting_id=hold.hosting_id,
        )


def _send_staff(hold: Hold) -> None:
    to = staff_recipients()
    if not to:
        log.warning("hold of %s: no staff address to alert (STAFF_ALERT_EMAILS)", hold.mailbox)
        return
    site = settings.SITE_URL.rstrip("/")
    context = {
        "hold": hold,
        "admin_url": site + reverse("admin:limits_hold_change", args=[hold.pk]),
    }
    with translation.override("en"):
        email_send(
            name="hold-staff",
            context=context,
            to=to,
            message_id=f"hold-staff-{hold.pk}",
            hosting_id=hold.hosting_id,
        )
