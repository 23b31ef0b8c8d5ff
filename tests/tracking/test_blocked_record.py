"""A message Rspamd refused because its sender was already blocked (the blocked-senders
map): recorded as blocked with the code it met, never counted as spam."""

from __future__ import annotations

import dataclasses

import pytest

from abuse.models import Block
from ingest.recording import message_record, messages_record
from tests.factories import message_data
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db


def refused(sender: str, code: str, symbol: str = "LWS_BLOCKED"):
    data = message_data(sender=sender, score=0.0, action="reject")
    report = {symbol: {"score": 0.0, "options": [sender, code]}}
    return dataclasses.replace(data, symbols={**data.symbols, **report})


def test_it_is_recorded_as_blocked_with_the_code_it_met(mailbox):
    result = message_record(data=refused(mailbox.address, "L-SPAM20"))

    message = result.message
    assert (message.status, message.code, message.is_spam) == ("blocked", "L-SPAM20", False)
    assert result.blocks == [] and not Block.objects.exists()


def test_a_client_retrying_25_times_while_blocked_escalates_nothing(mailbox):
    datas = [refused(mailbox.address, "L-SPAM00", "LWS_BLOCKED") for _ in range(25)]

    assert messages_record(datas=datas) == 25

    assert OutboundMessage.objects.filter(status="blocked", is_spam=False).count() == 25
    assert not Block.objects.exists()


def test_a_reject_without_a_block_symbol_is_rejected_spam(mailbox):
    data = message_data(sender=mailbox.address, score=16.0, action="reject")

    message = message_record(data=data).message

    assert (message.status, message.is_spam, message.code) == ("rejected", True, "L-SPAM00")
