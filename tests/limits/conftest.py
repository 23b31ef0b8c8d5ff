from __future__ import annotations

import pytest

from enforcement.blockstate import KEY
from enforcement.counters import HOLDS_KEY, LIMITS_KEY, PREFIX, SINCE_KEY
from hosting.redis import client as blockstate_client
from tests.panel.conftest import customer, logged_in  # noqa: F401 (the panel's customer, marie)


@pytest.fixture
def clean_redis(redis_client):
    """No counters, limits, holds or blocks in the test Redis before and after the test."""

    def wipe() -> None:
        blockstate_client.cache_clear()
        keys = [*redis_client.scan_iter(f"{PREFIX}*"), KEY, LIMITS_KEY, HOLDS_KEY]
        redis_client.delete(*keys)

    wipe()
    # As a Redis that has counted for days: the windows are whole (test_counters_truth.py
    # takes the mark away).
    redis_client.set(SINCE_KEY, 0)
    yield redis_client
    wipe()
