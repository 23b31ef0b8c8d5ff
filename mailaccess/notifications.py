"""The e-mails of many failed logins on one mailbox: to the customer (their language) and
to staff. The owner is never locked out by them: it is a warning, not a block."""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from hosting.models import Mailbox
from webhooks.emails import email_send, staff_recipients

log = logging.getLogger(__name__)


def failed_logins_notify(*, login: str) -> bool:
    """E-mail the mailbox's customer and staff that its logins fail again and again; False
    for a login that is no mailbox (staff see those in the access log)."""
    mailbox = (
        Mailbox.objects.select_related("domain__hosting__customer").filter(address=login).first()
    )
    if mailbox is None:
        return False
    hosting = mailbox.domain.hosting
    account = hosting.customer
    site = settings.SITE_URL.rstrip("/")
    # One e-mail per mailbox and hour: a retried task sends the same Message-ID.
    hour = timezone.now().strftime("%Y%m%d%H")
    context = {
        "mailbox": mailbox,
        "account": account,
        "access_url": site
        + reverse("access-log", args=[hosting.pk])
        + f"?mailbox={mailbox.address}",
        "password_url": site + reverse("mailbox-password", args=[hosting.pk, mailbox.pk]),
    }
    with translation.override(account.language):
        email_send(
            name="failed-logins",
            context=context,
            to=[account.contact_email],
            message_id=f"failed-logins-{mailbox.pk}-{hour}",
            hosting_id=hosting.pk,
        )
    staff = staff_recipients()
    if staff:
        with translation.override("en"):
            email_send(
                name="failed-logins-staff",
                context={**context, "hosting": hosting},
                to=staff,
                message_id=f"failed-logins-staff-{mailbox.pk}-{hour}",
                hosting_id=hosting.pk,
            )
    else:
        log.warning("failed logins on %s: no staff address to alert", mailbox)
    return True
