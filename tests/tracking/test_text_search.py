"""A text search walks the partitions from the newest: the same rows, in the same order,
with the same cursor pages as one query over the whole table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import message_data
from tracking.models import OutboundMessage
from tracking.partitions import MESSAGES
from tracking.selectors import MessageFilters, decode_cursor, hosting_messages
from tracking.services import messages_store

pytestmark = pytest.mark.django_db
EDGE = MESSAGES.start(datetime(2027, 1, 1, tzinfo=UTC))  # a partition boundary


def test_a_text_search_pages_across_partitions_newest_first_like_one_query(mailbox):
    moments = [EDGE - timedelta(seconds=1), EDGE, EDGE + timedelta(seconds=1)]
    moments += [EDGE - timedelta(weeks=4 * k, hours=k) for k in range(1, 6)]
    moments += [datetime(2031, 3, 12, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)]
    datas = []
    for i, at in enumerate(moments):
        for j, subject in enumerate(["Fattura pronta", "Facture prête", "Newsletter"]):
            data = message_data(sender=mailbox.address, sent_at=at, queue_id=f"T{i:02d}{j}")
            datas.append(replace(data, subject=f"{subject} n°{i}"))
    messages_store(datas=datas, now=EDGE)
    hosting = mailbox.domain.hosting
    expected = list(
        OutboundMessage.objects.filter(hosting=hosting, subject__icontains="fattura")
        .order_by("-sent_at", "-id")
        .values_list("queue_id", flat=True)
    )
    assert len(expected) == len(moments)
    seen, after = [], None
    filters = MessageFilters(text="FATTURA")
    while True:
        page, cursor = hosting_messages(hosting=hosting, filters=filters, after=after, limit=3)
        seen += [m.queue_id for m in page]
        if cursor is None:
            break
        after = decode_cursor(cursor)
    assert seen == expected


def test_a_text_search_with_nothing_to_find_ends_empty(mailbox):
    messages_store(datas=[message_data(sender=mailbox.address, sent_at=EDGE)], now=EDGE)
    page, cursor = hosting_messages(
        hosting=mailbox.domain.hosting, filters=MessageFilters(text="absent")
    )
    assert (page, cursor) == ([], None)
