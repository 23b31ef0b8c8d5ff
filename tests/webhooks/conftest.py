from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver
from webhooks.events import Event
from webhooks.models import Endpoint


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def endpoint(db, receiver) -> Endpoint:
    return Endpoint.objects.create(name="billing", url=receiver.url, events=list(Event.values))
