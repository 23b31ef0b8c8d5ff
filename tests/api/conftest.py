from __future__ import annotations

import pytest

from api.scopes import Scope
from api.services import api_token_create
from tests.factories import UserFactory


class Api:
    """The test client speaking for one token."""

    def __init__(self, client, key: str, token) -> None:
        self.client, self.key, self.token = client, key, token

    def get(self, path: str, params: dict | None = None):
        return self.client.get(
            f"/api/v1/{path}", params or {}, HTTP_AUTHORIZATION=f"Bearer {self.key}"
        )

    def post(self, path: str, body: dict | None = None):
        return self.client.post(
            f"/api/v1/{path}",
            body or {},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.key}",
        )


@pytest.fixture
def make_api(db, client):
    staff = UserFactory(username="billing-owner", is_staff=True)

    def make(scopes=tuple(Scope.values), customers=()) -> Api:
        token, key = api_token_create(
            name="billing", owner=staff, scopes=list(scopes), created_by=staff
        )
        token.customers.set(customers)
        return Api(client, key, token)

    return make


@pytest.fixture
def api(make_api) -> Api:
    return make_api()
