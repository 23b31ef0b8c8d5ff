"""The API's documentation is a page to read, served from the panel's own files: Swagger UI
under the panel's Content-Security-Policy, nothing fetched from elsewhere."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_api_docs_page_lists_every_endpoint_from_the_panels_own_files(page, live_server):
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    response = page.goto(f"{live_server.url}/api/v1/docs/")

    assert response.status == 200
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/blocks/{id}/lift/" in [p.strip() for p in paths]
    assert "/api/v1/messages/" in [p.strip() for p in paths]
    assert requested and all(
        u.startswith(live_server.url) or u.startswith("data:") for u in requested
    ), requested
    assert problems == [], problems
    page.shot("api-docs")


def test_the_favicon_is_where_browsers_look_for_it(client):
    response = client.get("/favicon.ico", follow=True)

    assert response.status_code == 200
    assert (
        b"".join(response.streaming_content if response.streaming else [response.content])[:4]
        == b"\x00\x00\x01\x00"
    )
