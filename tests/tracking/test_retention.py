"""Message history is kept MESSAGE_HISTORY_DAYS, to the second, and never fewer days than
the policy table's longest window plus 10."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from abuse.models import Block, PolicyTier
from abuse.retention import RetentionTooShort, message_history_expire, retention_minimum_days
from tests.abuse.helpers import spam_at
from tests.factories import UserFactory
from tracking.models import MessageContent, OutboundMessage
from tracking.services import message_contents_sweep

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)  # a year's edge


# One partition holds 2025-11-24 00:00 to 2025-12-22 00:00 UTC: four weeks, Monday to Monday.
PART_END = datetime(2025, 12, 22, tzinfo=UTC)
PART_START = PART_END - timedelta(weeks=4)


@pytest.mark.parametrize(("offset", "kept"), [(-1, True), (0, False), (1, False)])
def test_a_partition_goes_once_its_last_second_is_400_days_old(mailbox, offset, kept):
    last_second = PART_END - timedelta(seconds=1)
    spam_at(mailbox.address, last_second)
    spam_at(mailbox.address, PART_END)  # the next partition's first second stays

    with time_machine.travel(PART_END + timedelta(days=400, seconds=offset), tick=False):
        dropped = message_history_expire()

    assert dropped == (0 if kept else 1)
    sent = set(OutboundMessage.objects.values_list("sent_at", flat=True))
    assert sent == ({last_second, PART_END} if kept else {PART_END})


def test_no_message_younger_than_400_days_is_ever_dropped(mailbox):
    # A message every 29 hours of the four weeks; the daily runs of the job around the edge.
    for hours in range(0, 28 * 24, 29):
        spam_at(mailbox.address, PART_START + timedelta(hours=hours))
    sent = sorted(OutboundMessage.objects.values_list("sent_at", flat=True))
    for day in range(395, 431):
        now = PART_START + timedelta(days=day, hours=13)
        with time_machine.travel(now, tick=False):
            message_history_expire()
        left = set(OutboundMessage.objects.values_list("sent_at", flat=True))
        assert all(s in left for s in sent if now - s <= timedelta(days=400)), day
    assert not OutboundMessage.objects.exists()


def test_expiry_unlinks_the_blocks_it_started_and_keeps_them(mailbox):
    spam_at(mailbox.address, NOW - timedelta(days=500), 3)
    assert MessageContent.objects.count() == 3

    with time_machine.travel(NOW, tick=False):
        assert message_history_expire() == 1
        message_contents_sweep()  # the content went 72 hours after sending, long before

    assert not OutboundMessage.objects.exists() and not MessageContent.objects.exists()
    block = Block.objects.earliest("started_at")
    assert block.trigger_message_id is None and block.code == "L-SPAM00"


def test_the_minimum_is_the_longest_window_plus_10_days():
    assert retention_minimum_days() == 130  # L-SPAM40: 120 days
    PolicyTier.objects.filter(code="L-SPAM40").update(window=timedelta(days=200))
    assert retention_minimum_days() == 210


def test_a_history_too_short_is_refused_by_the_job_the_command_and_the_checks(settings, mailbox):
    settings.MESSAGE_HISTORY_DAYS = 129
    spam_at(mailbox.address, NOW - timedelta(days=300))

    with pytest.raises(RetentionTooShort, match="at least 130 days"):
        message_history_expire()
    with pytest.raises((CommandError, SystemCheckError), match="at least 130 days"):
        call_command("expire_message_history")
    with pytest.raises(SystemCheckError, match=r"lwsmail\.E001"):
        call_command("check", "--database", "default")
    assert OutboundMessage.objects.count() == 1

    settings.MESSAGE_HISTORY_DAYS = 130
    call_command("check", "--database", "default")
    call_command("expire_message_history")
    assert OutboundMessage.objects.count() == 0


def test_staff_cannot_widen_a_window_past_what_the_history_keeps(client, settings):
    settings.MESSAGE_HISTORY_DAYS = 400
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    tier = PolicyTier.objects.get(code="L-SPAM40")
    url = reverse("admin:abuse_policytier_change", args=[tier.pk])
    data = {
        "code": tier.code,
        "scope": tier.scope,
        "rank": tier.rank,
        "threshold": tier.threshold,
        "window": "391 00:00:00",
        "block_duration": "",
        "complaint_period": "7 00:00:00",
        "notify_customer": "on",
        "enabled": "on",
    }

    response = client.post(url, data)

    assert response.status_code == 200
    assert "At most 390 days" in response.content.decode()
    data["window"] = "390 00:00:00"
    assert client.post(url, data).status_code == 302


def test_the_customer_and_staff_see_how_long_history_is_kept(logged_in, customer, client):
    page = logged_in.get(reverse("tracking", args=[customer.hosting.pk])).content.decode()
    assert "Messages are kept for at least 400 days (they go four weeks at a time)" in page

    client.force_login(UserFactory(username="support", is_staff=True, is_superuser=True))
    spam_at(customer.box.address, NOW - timedelta(days=2))
    admin = client.get(reverse("admin:tracking_outboundmessage_changelist")).content.decode()
    assert "kept 400 days" in admin and "Oldest message kept: 2026-12-30" in admin
    assert "four-week partitions from" in admin and "hourly partitions" in admin
