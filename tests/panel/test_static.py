from __future__ import annotations

import pytest
from django.templatetags.static import static


@pytest.mark.django_db
def test_whitenoise_serves_the_hashed_stylesheet_with_a_long_cache(client):
    url = static("css/panel.css")

    response = client.get(url)

    assert url != "/static/css/panel.css"  # the manifest name, as in production
    assert response.status_code == 200
    assert "max-age=315360000" in response["Cache-Control"]


@pytest.mark.django_db
def test_a_missing_page_is_the_panels_own_404(client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert 'id="not-found"' in response.content.decode()


def test_the_500_page_renders_without_a_request_or_a_database():
    from django.template.loader import render_to_string

    assert 'id="server-error"' in render_to_string("500.html")


@pytest.mark.django_db
def test_every_page_names_its_favicon(client):
    page = client.get("/accounts/login/").content.decode()

    assert 'rel="icon"' in page and "favicon" in page
