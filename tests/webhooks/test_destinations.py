"""Webhooks never reach inside the provider's network unless allowed on purpose. These
tests check the decision; the only connections they make go to a loopback receiver."""

from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import emit
from tests.webhooks.test_webhooks_admin import staff_client  # noqa: F401 (a fixture)
from webhooks.destinations import RefusedDestination, destination_check
from webhooks.events import Event
from webhooks.models import Endpoint
from webhooks.services import webhook_delivery_attempt

pytestmark = pytest.mark.django_db

INSIDE = [
    ("http://127.0.0.1:18999/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]:6379/", "loopback"),
    ("http://localhost:6379/", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://172.16.0.9/hook", "private"),
    ("https://192.168.1.1/hook", "private"),
    ("http://[fc00::1]/hook", "private"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff02::1]/hook", "multicast"),
    ("http://0.0.0.0:6379/", "unspecified"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://100.64.0.1/hook", "not a public"),
    ("http://[::ffff:127.0.0.1]:6379/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://2130706433:6379/", "loopback"),  # 127.0.0.1 as one number
    ("http://0x7f.1:6379/", "loopback"),
    ("http://127.1:6379/", "loopback"),
    ("http://nowhere.invalid/hook", "does not resolve"),
]


@pytest.fixture(autouse=True)
def _nothing_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []


@pytest.mark.parametrize(("url", "kind"), INSIDE)
def test_an_address_inside_a_network_is_refused_with_the_reason(url, kind):
    with pytest.raises(RefusedDestination, match=kind):
        destination_check(url)


def test_a_public_address_is_allowed():
    assert [str(a) for a in destination_check("https://billing.example.net/hooks")] == [
        "93.184.216.34"
    ]


def test_a_name_with_one_internal_address_among_public_ones_is_refused(dns):
    dns["mixed.example.net"] = ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(RefusedDestination, match=r"10\.0\.0\.7 is a private address"):
        destination_check("https://mixed.example.net/hooks")


def test_an_allowed_network_lets_an_internal_receiver_through_on_purpose(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]

    assert [str(a) for a in destination_check("http://10.20.3.4/hook")] == ["10.20.3.4"]
    with pytest.raises(RefusedDestination):
        destination_check("http://10.21.0.1/hook")


@pytest.mark.parametrize(("url", "kind"), INSIDE[:4])
def test_the_admin_refuses_an_internal_url_at_save_with_the_reason(staff_client, url, kind):  # noqa: F811
    data = {
        "name": "internal",
        "url": url,
        "events": [Event.BLOCK_STARTED],
        "secret": "a-secret-of-thirty-two-characters",
    }

    response = staff_client.post("/admin/webhooks/endpoint/add/", data)

    assert response.status_code == 200
    assert kind in response.content.decode()
    assert not Endpoint.objects.exists()


def test_a_name_that_turns_internal_after_the_save_is_refused_at_delivery(dns):
    # DNS rebinding: public when saved, the metadata address when the worker resolves it.
    dns["rebind.example.net"] = ["93.184.216.34"]
    Endpoint.objects.create(
        name="rebind", url="http://rebind.example.net/hook", events=[Event.BLOCK_STARTED]
    )
    dns["rebind.example.net"] = ["169.254.169.254"]

    delivery = emit()
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"

    [attempt] = delivery.attempt_log.all()
    assert attempt.status is None
    assert attempt.error.startswith("refused: rebind.example.net: 169.254.169.254 is a link-local")


def test_the_delivery_connects_to_the_address_it_checked_with_the_receivers_name(dns, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with Receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        dns["receiver.example.net"] = ["127.0.0.1"]
        Endpoint.objects.create(
            name="named",
            url=f"http://receiver.example.net:{port}/hooks/lwsmail",
            events=[Event.BLOCK_STARTED],
        )
        delivery = emit()

        assert webhook_delivery_attempt(delivery_id=delivery.pk) == "delivered"

    [request] = receiver.received
    assert request.headers["Host"] == f"receiver.example.net:{port}"
    assert request.path == "/hooks/lwsmail"
