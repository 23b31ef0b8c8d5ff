from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver
from webhooks.events import Event
from webhooks.models import Endpoint


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings):
    # The receivers here listen on loopback: allowed on purpose, as a provider allows its
    # own internal receiver. tests/webhooks/test_destinations.py sets its own networks.
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def endpoint(db, receiver) -> Endpoint:
    return Endpoint.objects.create(name="billing", url=receiver.url, events=list(Event.values))
