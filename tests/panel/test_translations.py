"""Every string the panel marks for translation has its French and Italian translation, and
the customer pages in French and Italian show none of the English originals."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from django.urls import reverse

from tests.harness.common import ROOT, require_binary

SOURCES = ["lwsmail", "abuse", "ingest", "limits", "tracking", "templates", "locale", "manage.py"]


def test_every_translatable_string_has_its_french_and_italian_translation(tmp_path):
    msgattrib = require_binary("msgattrib", "gettext")
    require_binary("xgettext", "gettext")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("*.mo"))
        else:
            shutil.copy(source, tmp_path / name)
    env = {**os.environ, "DJANGO_SECRET_KEY": "catalogue-check"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "-l", "it", "--no-obsolete"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    for language in ("fr", "it"):
        catalogue = tmp_path / "locale" / language / "LC_MESSAGES" / "django.po"
        missing = []
        for option in ("--untranslated", "--only-fuzzy"):
            out = subprocess.run(
                [msgattrib, option, "--no-obsolete", str(catalogue)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            missing += [m for m in re.findall(r'^msgid "(.*)"$', out, re.M) if m]
        assert missing == [], f"{language}: {missing}"


def _translations(language: str) -> list[str]:
    """English originals whose translation differs, long enough not to be a common word."""
    text = (ROOT / "locale" / language / "LC_MESSAGES" / "django.po").read_text()
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', text, re.M)
    return [m for m, t in pairs if m != t and len(m) >= 15 and "%" not in m]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fr", "it"])
def test_the_customer_pages_in_french_and_italian_show_no_english(client, abuse_blocked, language):
    from django.conf import settings

    from tests.panel.conftest import PASSWORD

    client.post("/accounts/login/", {"username": "marie", "password": PASSWORD})
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    hosting = abuse_blocked.hosting.pk
    pages = [
        reverse("addresses", args=[hosting]),
        reverse("mail-abuse", args=[hosting]),
        reverse("tracking", args=[hosting]),
        reverse("history", args=[hosting]),
        reverse("mailbox-password", args=[hosting, abuse_blocked.box.pk]),
    ]
    english = _translations(language)
    for url in pages:
        html = client.get(url).content.decode()
        left = [m for m in english if m in html]
        assert left == [], f"{url} in {language}: {left}"
