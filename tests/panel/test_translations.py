"""Every string the panel marks for translation has its French and Italian translation, and
the customer pages in French and Italian show none of the English originals."""

from __future__ import annotations

import html
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


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def _untranslated_patterns(language: str) -> list[tuple[str, re.Pattern]]:
    """English originals whose translation differs, as patterns that find them in a page
    with their placeholders filled ("At least 12 characters…" included): long enough in
    their literal words not to be a common one."""
    text = (ROOT / "locale" / language / "LC_MESSAGES" / "django.po").read_text()
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', text, re.M)
    found = []
    for msgid, msgstr in pairs:
        if msgid == msgstr:
            continue
        literal = PLACEHOLDER.split(msgid.replace('\\"', '"'))
        if max(len(part.strip()) for part in literal) < 15:
            continue
        escaped = [re.escape(html.escape(part, quote=False)) for part in literal]
        found.append((msgid, re.compile(".{1,80}?".join(escaped), re.S)))
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fr", "it"])
def test_every_customer_page_in_french_and_italian_shows_no_english(
    client, abuse_blocked, language, settings
):
    from django.utils import timezone

    from limits.services import hold_record
    from tests.abuse.helpers import spam_at
    from tests.factories import MailboxFactory
    from tests.panel.conftest import PASSWORD
    from tracking.models import OutboundMessage

    # Every kind of state a customer page can show: a mail-abuse block, a timed block, a
    # hold, sent mail with its content and report.
    timed = MailboxFactory(domain=abuse_blocked.box.domain, address="devis@boulangerie.example")
    spam_at(timed.address, timezone.now(), 1)
    held = MailboxFactory(domain=abuse_blocked.box.domain, address="info@boulangerie.example")
    hold_record(
        address=held.address,
        entry={"t": "tr1", "at": timezone.now().timestamp(), "why": "volume", "n": 60, "max": 50},
    )
    message = OutboundMessage.objects.filter(sender=timed.address).latest("sent_at")
    client.post("/accounts/login/", {"username": "marie", "password": PASSWORD})
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    hosting = abuse_blocked.hosting.pk
    pages = [
        reverse("addresses", args=[hosting]),
        reverse("mail-abuse", args=[hosting]),
        reverse("tracking", args=[hosting]),
        reverse("tracking", args=[hosting]) + "?spam=1&q=x",
        reverse("message", args=[hosting, message.pk]),
        reverse("history", args=[hosting]),
        reverse("sending-limits", args=[hosting]),
        reverse("mailbox-password", args=[hosting, abuse_blocked.box.pk]),
    ]
    english = _untranslated_patterns(language)
    assert any("%(n)d" in msgid for msgid, _ in english)  # the patterns see placeholders
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        left = [msgid for msgid, pattern in english if pattern.search(page)]
        assert left == [], f"{url} in {language}: {left}"
    # The pages before logging in, and a form refused with its errors.
    client.post(reverse("logout"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    for url in (reverse("login"), reverse("password_reset")):
        page = client.get(url).content.decode()
        left = [msgid for msgid, pattern in english if pattern.search(page)]
        assert left == [], f"{url} in {language}: {left}"
