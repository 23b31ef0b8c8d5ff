from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness.common import ROOT, require_binary

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))

# Django's live server runs in a thread of this process; Playwright's sync API runs an
# event loop in this thread too, which Django would otherwise refuse to do ORM work beside.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session", autouse=True)
def _plain_static_names():
    # The live server answers /static/ itself from the finders, before WhiteNoise: it knows
    # no manifest names. (tests/panel/test_static.py checks WhiteNoise serves those.)
    from django.test import override_settings

    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = require_binary("chromium", "chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.shot = lambda name: _shot(page, request.node.name, name)
    yield page
    context.close()


def _shot(page, test: str, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in test)
    page.screenshot(path=str(ARTIFACTS / f"{safe}-{name}.png"), full_page=True)
