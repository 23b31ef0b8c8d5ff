from __future__ import annotations

import pytest

from tests.panel.conftest import customer, logged_in  # noqa: F401 (the panel's marie)
from tests.tracking.wsgi_client import WSGIClient, connections_kept_open


@pytest.fixture(params=["django", "wsgi"])
def ingest(request, client):
    """The ingest URLs both ways in: Django's test client, and the WSGI application."""
    if request.param == "django":
        yield client
        return
    with connections_kept_open():
        yield WSGIClient()
