from __future__ import annotations

import pytest

from hosting.models import AuditEvent
from tests.factories import UserFactory
from tests.webhooks.receiver import Answer, Receiver
from webhooks.events import Event
from webhooks.models import Delivery, Endpoint
from webhooks.services import Occurrence, webhook_delivery_attempt, webhook_events_emit

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="support", is_staff=True, is_superuser=True))
    return client


def test_staff_register_an_endpoint_with_its_events_and_it_is_audited(staff_client):
    response = staff_client.post(
        "/admin/webhooks/endpoint/add/",
        {
            "name": "billing",
            "url": "https://billing.example.net/hooks/lwsmail",
            "events": [Event.BLOCK_STARTED, Event.HOSTING_UNBLOCKED],
            "is_active": "on",
            "secret": "a-secret-of-thirty-two-characters",
        },
    )
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["block.started", "hosting.unblocked"]
    assert AuditEvent.objects.filter(action="admin.endpoint.added").exists()


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("url", "ftp://billing.example.net/", "Enter a valid URL"),
        ("url", "javascript:alert(1)", "Enter a valid URL"),
        ("secret", "short", "At least 16 characters"),
        ("events", "block.exploded", "Select a valid choice"),
    ],
)
def test_a_bad_endpoint_is_refused_with_the_reason(staff_client, field, value, error):
    data = {
        "name": "billing",
        "url": "https://billing.example.net/hooks",
        "events": [Event.BLOCK_STARTED],
        "secret": "a-secret-of-thirty-two-characters",
        field: value,
    }
    response = staff_client.post("/admin/webhooks/endpoint/add/", data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Endpoint.objects.exists()


def test_staff_read_each_attempt_with_its_status_not_the_receivers_body_and_send_it_again(
    staff_client,
):
    with Receiver(lambda n: Answer(500, b"<b>billing is down</b>")) as receiver:
        Endpoint.objects.create(name="billing", url=receiver.url, events=[Event.BLOCK_STARTED])
        webhook_events_emit(
            occurrences=[Occurrence(event=Event.BLOCK_STARTED, key="block.started:1")]
        )
        delivery = Delivery.objects.get()
        webhook_delivery_attempt(delivery_id=delivery.pk)
        page = staff_client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "500 Internal Server Error" in html and "billing is down" not in html
        listing = staff_client.get("/admin/webhooks/delivery/", {"state": "pending"})
        assert "retrying" in listing.content.decode()
        Delivery.objects.filter(pk=delivery.pk).update(failed_at=delivery.created_at)
        staff_client.post(
            "/admin/webhooks/delivery/",
            {"action": "send_again", "_selected_action": [delivery.pk]},
        )
    delivery.refresh_from_db()
    assert delivery.failed_at is None
    endpoints = staff_client.get("/admin/webhooks/endpoint/").content.decode()
    assert "billing" in endpoints


def test_a_customer_sees_no_webhook_admin(client):
    client.force_login(UserFactory())
    response = client.get("/admin/webhooks/delivery/")
    assert response.status_code == 302
