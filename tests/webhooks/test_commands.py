from __future__ import annotations

import time

import pytest
from django.core.management import CommandError, call_command

from enforcement.counters import REFUSED_KEY, key
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def test_the_limits_command_tells_what_was_refused_and_refuses_a_bad_window(
    endpoint, mailbox, redis_client, capsys
):
    from hosting.redis import client

    client.cache_clear()
    redis_client.zadd(REFUSED_KEY, {key("mailbox", mailbox.address): time.time()})
    try:
        call_command("emit_limits_reached")
    finally:
        redis_client.delete(REFUSED_KEY)
    assert "1 limit.reached delivery(ies) queued." in capsys.readouterr().out
    assert Delivery.objects.get().event == "limit.reached"
    with pytest.raises(CommandError, match="between 1 and 86400"):
        call_command("emit_limits_reached", "--since", "0")


def test_the_retry_command_queues_what_is_due(endpoint, capsys):
    call_command("webhooks_retry", "--purge")
    out = capsys.readouterr().out
    assert "0 due delivery(ies) queued." in out and "0 finished delivery(ies) deleted." in out
