"""Every customer page at 1280 and 375 px: a screenshot of each in test-artifacts/, and on a
phone no page scrolls sideways (wide tables scroll inside their own box)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.abuse.helpers import spam_at
from tests.browser.test_journey import customer_with_abuse_block, log_in
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def customer_pages(hosting_id: int, box_id: int, message_id: int) -> dict[str, str]:
    base = f"/h/{hosting_id}"
    return {
        "addresses": f"{base}/addresses/",
        "mail-abuse": f"{base}/abuse/",
        "tracking": f"{base}/tracking/",
        "message": f"{base}/tracking/{message_id}/",
        "history": f"{base}/history/",
        "password": f"{base}/addresses/{box_id}/password/",
    }


# Words a page may never break inside: a code, a size and its unit.
UNBREAKABLE = r"""
() => {
  const bad = [];
  for (const el of document.querySelectorAll('.code, .size, td strong')) {
    const text = el.textContent.trim();
    if (!text) continue;
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    if (lines.size > 1) bad.push(text);
  }
  return bad;
}
"""


def overflow(page) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


# The outermost elements that stick out of the screen, to name in a failure.
STICKING_OUT = r"""
() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > width + 1)
    .filter(el => !el.parentElement || el.parentElement.getBoundingClientRect().right <= width + 1)
    .slice(0, 5)
    .map(el => {
      const classes = typeof el.className === 'string' ? el.className.split(' ') : [];
      return [el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''), ...classes].join('.');
    });
}
"""


@pytest.mark.parametrize("language", ["en", "fr", "it"])
@pytest.mark.parametrize("width", [1280, 375])
def test_every_customer_page_fits_the_screen(browser, live_server, width, language):
    user, box = customer_with_abuse_block(language)
    message = OutboundMessage.objects.filter(mailbox=box).order_by("-sent_at").first()
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        log_in(page, live_server, user.username)
        for name, path in customer_pages(box.domain.hosting_id, box.pk, message.pk).items():
            page.goto(f"{live_server.url}{path}")
            page.screenshot(path=_artifact(f"{name}-{language}-{width}"), full_page=True)
            extra = overflow(page)
            assert extra <= 0, (
                f"{name} ({language}) at {width} px scrolls sideways by {extra} px: "
                f"{page.evaluate(STICKING_OUT)}"
            )
            broken = page.evaluate(UNBREAKABLE)
            assert broken == [], f"{name} ({language}) at {width} px breaks inside {broken}"
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 375])
def test_the_staff_pages_fit_the_screen(browser, live_server, width):
    from tests.browser.test_operations import staff_log_in
    from tests.factories import UserFactory

    UserFactory(username="support-screens", is_staff=True, is_superuser=True)
    customer_with_abuse_block("en")
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        staff_log_in(page, live_server, "support-screens")
        for name, path in {"admin-index": "/admin/", "operations": "/admin/operations/"}.items():
            page.goto(f"{live_server.url}{path}")
            page.screenshot(path=_artifact(f"{name}-{width}"), full_page=True)
            extra = overflow(page)
            assert extra <= 0, (
                f"{name} at {width} px scrolls sideways by {extra} px: "
                f"{page.evaluate(STICKING_OUT)}"
            )
        link = page.goto(f"{live_server.url}/admin/") and page.locator("#operations-link a")
        box = link.bounding_box()
        assert box["height"] < 3 * 24, "the Operations link wraps a letter per line"
    finally:
        context.close()


def test_a_timed_block_shows_on_the_mail_abuse_page_which_never_says_sending_works(
    page, live_server
):
    user, box = customer_with_abuse_block("en")
    other = box.domain.mailboxes.create(address=f"shop@{box.domain.name}")
    spam_at(other.address, timezone.now())  # L-SPAM00 for 20 minutes
    log_in(page, live_server, user.username)

    page.goto(f"{live_server.url}/h/{box.domain.hosting_id}/abuse/")

    timed = page.inner_text("#timed-blocks")
    assert other.address in timed and "L-SPAM00" in timed and "Change password" in timed
    assert "works normally" not in page.inner_text("main")
    page.shot("mail-abuse-with-a-timed-block")


def _artifact(name: str) -> str:
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / f"screen-{name}.png")


def test_the_unblock_history_line_and_logging_out_back_to_the_panels_login(page, live_server):
    user, box = customer_with_abuse_block("en")
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/h/{box.domain.hosting_id}/abuse/")
    assert "No unblock yet on this hosting." in page.inner_text("#unblock-history")
    page.check("#id_confirm")
    with page.expect_navigation():
        page.click("#unblock-button")

    history = page.inner_text("#unblock-history")
    assert history.startswith("Unblocks") and "Last unblock on" in history
    assert "The next one is possible from" in history
    page.shot("unblock-history")

    with page.expect_navigation():
        page.click("button:has-text('Log out')")
    assert page.url.endswith("/accounts/login/")
    assert page.locator("#id_username").is_visible()
