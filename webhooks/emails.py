"""Sending the panel's own e-mails: templates/emails/<name>-subject.txt, -body.txt and
-body.html, rendered in the language active when called."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from webhooks.events import Event
from webhooks.services import webhook_event_emit

# Tasks that send an e-mail: the SMTP server may be down for a while (late ack, retries
# spread over about an hour); what they send is guarded by a row lock, so a retry is safe.
MAIL_TASK_OPTIONS = {
    "acks_late": True,
    "retry_backoff": 10,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
}


def staff_recipients() -> list[str]:
    """Who staff alerts go to: STAFF_ALERT_EMAILS, else every active staff member's e-mail."""
    return list(settings.STAFF_ALERT_EMAILS) or list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def email_send(
    *, name: str, context: dict, to: list[str], message_id: str, hosting_id: int | None = None
) -> None:
    """Render and send one e-mail, and tell the webhooks (email.sent) once it is handed to
    the SMTP server; the same Message-ID on a resend lets the receiving side see a duplicate."""
    subject = render_to_string(f"emails/{name}-subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"emails/{name}-body.txt", context),
        to=to,
        headers={"Message-ID": f"<{message_id}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"},
    )
    message.attach_alternative(render_to_string(f"emails/{name}-body.html", context), "text/html")
    message.send()
    webhook_event_emit(
        event=Event.EMAIL_SENT,
        key=f"email.sent:{message_id}",
        hosting_id=hosting_id,
        data={"template": name, "to": to, "subject": message.subject, "message_id": message_id},
    )


def warning_emails_send(
    *, name: str, key: int, context: dict, account, hosting_id: int | None
) -> None:
    """E-mail the customer account the warning `name` in its language, and staff its
    `<name>-staff` alert (when STAFF_ALERT_EMAILS or staff users give an address)."""
    with translation.override(account.language):
        email_send(
            name=name,
            context=context,
            to=[account.contact_email],
            message_id=f"{name}-{key}",
            hosting_id=hosting_id,
        )
    staff = staff_recipients()
    if staff:
        email_send(
            name=f"{name}-staff",
            context=context,
            to=staff,
            message_id=f"{name}-staff-{key}",
            hosting_id=hosting_id,
        )
