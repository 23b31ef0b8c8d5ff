"""The operations dashboard in Chromium, as staff: the charts drawn, the filter used by
keyboard, no serious accessibility finding, and a screenshot in test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.abuse.helpers import spam_at
from tests.browser.test_accessibility import serious
from tests.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def staff_log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests")
    with page.expect_navigation():
        page.click("input[type=submit]")


def test_staff_reach_the_dashboard_from_the_admin_and_filter_it_by_keyboard(
    page, live_server, settings
):
    settings.RSPAMD_URL = "http://127.0.0.1:9"  # nothing listens: shown as failing
    UserFactory(username="support", is_staff=True, is_superuser=True)
    timed, abusive = MailboxFactory(), MailboxFactory()
    spam_at(timed.address, timezone.now(), 1)
    spam_at(abusive.address, timezone.now() - timedelta(days=2), 40)

    staff_log_in(page, live_server, "support")
    with page.expect_navigation():
        page.click("text=Operations dashboard")
    assert page.url.endswith("/admin/operations/")
    assert page.locator("#blocked-h").inner_text() == "Blocked now: 2"
    assert page.locator("svg[data-chart=blocks-30] rect").count() == 30
    assert page.locator("svg[data-chart=spam-120] rect").count() == 120
    today = timezone.now().date().isoformat()
    spam_today = page.get_attribute(
        f"svg[data-chart=spam-30] rect[data-day='{today}']", "data-value"
    )
    assert int(spam_today) >= 1
    assert "FAILING" in page.locator("#health").inner_text()
    page.shot("dashboard")
    assert serious(page) == []

    page.focus("#f-code")
    page.keyboard.type("L-SPAM20")  # a closed select's type-ahead
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "code=L-SPAM20" in page.url
    rows = page.locator("#blocks-now tbody tr")
    assert rows.count() == 1 and abusive.address in rows.inner_text()


def test_a_customer_never_sees_the_dashboard(page, live_server):
    from tests.browser.test_journey import customer_with_abuse_block, log_in

    user, _ = customer_with_abuse_block("en")
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/admin/operations/")
    assert "/admin/login/" in page.url
    assert page.locator("#blocked-h").count() == 0
