from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from ingest.recording import message_record
from tests.factories import message_data
from tracking.models import MessageContent, OutboundMessage
from tracking.services import message_contents_sweep

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("offset", "kept"), [(-1, True), (1, False)])
def test_content_is_swept_72_hours_after_sending_not_before(mailbox, offset, kept):
    sent = timezone.now() - timedelta(hours=1)
    message = message_record(data=message_data(sender=mailbox.address, sent_at=sent)).message

    message_contents_sweep(now=sent + timedelta(hours=72, seconds=offset))

    assert MessageContent.objects.filter(message=message).exists() is kept
    assert OutboundMessage.objects.filter(pk=message.pk, score=12.5).exists()  # metadata stays


def test_the_sweep_goes_through_every_batch(mailbox, capsys):
    sent = timezone.now() - timedelta(hours=1)
    for n in range(7):
        message_record(data=message_data(sender=mailbox.address, sent_at=sent, queue_id=f"S{n}"))

    assert message_contents_sweep(now=sent + timedelta(hours=73), batch_size=3) == 7
    assert not MessageContent.objects.exists()
    call_command("sweep_message_content")
    assert "0 expired content row(s) deleted." in capsys.readouterr().out
