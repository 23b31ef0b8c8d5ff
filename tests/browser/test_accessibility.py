"""An automated accessibility audit (axe-core, shipped inside the pinned
axe-playwright-python wheel; nothing loads from elsewhere) of every customer page in
Chromium: no serious or critical finding."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from tests.abuse.helpers import spam_at
from tests.browser.test_journey import customer_with_abuse_block, log_in
from tests.browser.test_screens import customer_pages
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def serious(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("language", ["en", "fr", "it"])
def test_no_customer_page_has_a_serious_or_critical_accessibility_finding(
    browser, live_server, language
):
    user, box = customer_with_abuse_block(language)
    other = box.domain.mailboxes.create(address=f"shop@{box.domain.name}")
    spam_at(other.address, timezone.now())  # a timed block too
    message = OutboundMessage.objects.filter(mailbox=box).order_by("-sent_at").first()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    findings = {}
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        findings["login"] = serious(page)
        log_in(page, live_server, user.username)
        for name, path in customer_pages(box.domain.hosting_id, box.pk, message.pk).items():
            page.goto(f"{live_server.url}{path}")
            findings[name] = serious(page)
    finally:
        context.close()

    assert {name: found for name, found in findings.items() if found} == {}


def test_the_audit_does_find_what_it_should(page):
    # An unlabelled field and an image without text: the audit must see both.
    page.set_content('<html lang="en"><body><main><img src="data:,"><input></main></body></html>')

    found = " ".join(serious(page))

    assert "image-alt" in found and "label" in found
