from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from ingest.recording import message_record
from tests.factories import message_data
from tracking.models import MessageContent, OutboundMessage
from tracking.services import message_contents_sweep

pytestmark = pytest.mark.django_db


# Sent at 10:20: the content expires 72 hours later at 10:20, in the 10:00-11:00 hour.
SENT = datetime(2026, 11, 27, 10, 20, tzinfo=UTC)
HOUR_END = SENT + timedelta(hours=72, minutes=40)


@pytest.mark.parametrize(("offset", "kept"), [(-1, True), (0, False), (1, False)])
def test_content_goes_with_its_hour_once_the_hour_is_over(mailbox, offset, kept):
    with time_machine.travel(SENT, tick=False):
        message = message_record(data=message_data(sender=mailbox.address)).message
        later = message_record(
            data=message_data(sender=mailbox.address, sent_at=SENT + timedelta(minutes=40))
        ).message  # expires in the next hour

    message_contents_sweep(now=HOUR_END + timedelta(seconds=offset))

    assert MessageContent.objects.filter(message=message).exists() is kept
    assert MessageContent.objects.filter(message=later).exists()
    assert OutboundMessage.objects.filter(pk=message.pk, score=12.5).exists()  # metadata stays


def test_content_past_its_72_hours_is_never_shown_while_its_hour_lasts(client, customer):
    with time_machine.travel(SENT, tick=False):
        message = message_record(data=message_data(sender=customer.box.address)).message
    client.force_login(customer)
    url = reverse("message", args=[customer.hosting.pk, message.pk])

    with time_machine.travel(SENT + timedelta(hours=72, seconds=-1), tick=False):
        assert b"BAYES_SPAM" in client.get(url).content
    with time_machine.travel(SENT + timedelta(hours=72, seconds=1), tick=False):
        message_contents_sweep()
        assert MessageContent.objects.filter(message=message).exists()  # its hour lasts
        page = client.get(url)
    assert page.status_code == 200 and b"BAYES_SPAM" not in page.content


def test_the_sweep_drops_every_hour_that_is_over(mailbox, capsys):
    with time_machine.travel(SENT, tick=False):
        for n in range(7):
            message_record(
                data=message_data(
                    sender=mailbox.address, sent_at=SENT + timedelta(hours=n), queue_id=f"S{n}"
                )
            )

    assert message_contents_sweep(now=SENT + timedelta(hours=80)) >= 7
    assert not MessageContent.objects.exists()
    call_command("sweep_message_content")
    assert "hour(s) of expired content dropped." in capsys.readouterr().out
