"""The email history's Delivery column and filter: each message's worst recipient, as the
mail server last logged it; a recipient deferred and then delivered is no longer deferred."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import sent_message
from tests.panel.conftest import customer, logged_in  # noqa: F401
from tracking.deliveries import deliveries_record

pytestmark = pytest.mark.django_db


def message(box, subject: str, queue_id: str, at) -> None:
    recipients = ["anna@example.org", "bob@example.net"]
    sent_message(box, at=at, queue_id=queue_id, recipients=recipients, subject=subject)


def result(queue_id: str, recipient: str, status: str, at) -> dict:
    return {
        "queue_id": queue_id,
        "recipient": recipient,
        "status": status,
        "dsn": {"delivered": "2.0.0", "deferred": "4.7.0", "bounced": "5.1.1"}[status],
        "reply": f"{status} reply",
        "logged_at": at.isoformat(),
    }


def test_the_history_shows_and_filters_each_messages_worst_recipient(logged_in, customer):  # noqa: F811
    box, now = customer.box, timezone.now()
    message(box, "Devis boulangerie", "QBOUNCE001", now - timedelta(minutes=30))
    message(box, "Commande de Noël", "QLATER0001", now - timedelta(minutes=20))
    message(box, "Horaires", "QWAITS0001", now - timedelta(minutes=10))
    message(box, "Pas encore", "QNOTYET001", now - timedelta(minutes=5))
    deliveries_record(
        host="mx1",
        items=[
            result("QBOUNCE001", "anna@example.org", "delivered", now - timedelta(minutes=29)),
            result("QBOUNCE001", "bob@example.net", "bounced", now - timedelta(minutes=29)),
            result("QLATER0001", "anna@example.org", "deferred", now - timedelta(minutes=19)),
            result("QLATER0001", "anna@example.org", "delivered", now - timedelta(minutes=15)),
            result("QWAITS0001", "anna@example.org", "deferred", now - timedelta(minutes=9)),
        ],
    )
    url = reverse("tracking", args=[customer.hosting.pk])
    page = logged_in.get(url).content.decode()
    assert page.count('class="delivery-bounced"') == 1
    assert page.count('class="delivery-delivered"') == 1
    assert page.count('class="delivery-deferred"') == 1

    def subjects(delivery: str) -> set[str]:
        page = logged_in.get(url, {"delivery": delivery})
        assert page.status_code == 200
        return {m.subject for m in page.context["page"]}

    assert subjects("bounced") == {"Devis boulangerie"}
    assert subjects("deferred") == {"Horaires"}  # the one delivered since is not
    assert subjects("delivered") == {"Devis boulangerie", "Commande de Noël"}
    assert logged_in.get(url, {"delivery": "lost"}).status_code == 400
