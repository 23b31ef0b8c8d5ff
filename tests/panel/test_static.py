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
