"""Sending the panel's own e-mails: templates/emails/<name>-subject.txt, -body.txt and
-body.html, rendered in the language active when called."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def email_send(*, name: str, context: dict, to: list[str], message_id: str) -> None:
    """Render and send one e-mail; the same Message-ID on a resend lets the receiving side
    see a duplicate."""
    subject = render_to_string(f"emails/{name}-subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"emails/{name}-body.txt", context),
        to=to,
        headers={"Message-ID": f"<{message_id}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"},
    )
    message.attach_alternative(render_to_string(f"emails/{name}-body.html", context), "text/html")
    message.send()
