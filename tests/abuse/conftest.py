from __future__ import annotations

import pytest

from enforcement.blockstate import KEY
from hosting.redis import client


@pytest.fixture
def clean_state(redis_client):
    """The block state of the test Redis, empty before and after the test."""
    client.cache_clear()
    redis_client.delete(KEY)
    yield
    redis_client.delete(KEY)
