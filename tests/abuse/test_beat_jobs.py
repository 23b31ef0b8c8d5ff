from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from abuse.models import Block
from abuse.tasks import lift_expired_blocks
from hosting.models import AuditEvent
from tests.abuse.helpers import spam_at, standing
from tests.workers import celery_worker, wait_until


def test_every_beat_entry_expires_before_its_next_run():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert 0 < entry["options"]["expires"] < entry["schedule"].total_seconds(), name


@pytest.mark.django_db
def test_the_command_lifts_expired_timed_blocks_and_audits_it(mailbox, capsys):
    spam_at(mailbox.address, timezone.now() - timedelta(minutes=21))
    block = standing(mailbox.address)

    call_command("lift_expired_blocks")

    block.refresh_from_db()
    assert (block.lift_reason, block.lifted_at) == ("expired", block.ends_at)
    assert "1 expired block(s) lifted." in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="block.expired", subject=mailbox.address).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_on_redis_lifts_expired_blocks(mailbox, redis_client, tmp_path):
    spam_at(mailbox.address, timezone.now() - timedelta(minutes=21))
    block = standing(mailbox.address)
    redis_client.flushdb()

    with celery_worker(log=tmp_path / "worker.log"):
        lift_expired_blocks.delay()
        lifted = wait_until(
            lambda: Block.objects.filter(pk=block.pk, lift_reason="expired").exists()
        )

    assert lifted, (tmp_path / "worker.log").read_text()
