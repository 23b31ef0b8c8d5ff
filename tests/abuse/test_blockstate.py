"""The block state in Redis: the policy service's hash and Rspamd's blocked-senders map
move together with the blocks in PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from abuse.services import blocks_lift_expired, hosting_unblock
from enforcement.blockstate import KEY, RSPAMD_KEY
from hosting.redis import client
from tests.abuse.helpers import spam_at, standing, website_spam_at
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def state(redis_client):
    client.cache_clear()
    redis_client.delete(KEY, RSPAMD_KEY)
    yield redis_client
    redis_client.delete(KEY, RSPAMD_KEY)


def rspamd_map(redis_client) -> dict[str, str]:
    # The code; a timed block's value goes on with " until <its end>" (checked below).
    return {
        k.decode(): v.decode().split(" until ")[0]
        for k, v in redis_client.hgetall(RSPAMD_KEY).items()
    }


def test_a_block_puts_the_address_and_its_code_in_rspamds_map(
    state, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address.upper(), timezone.now() - timedelta(hours=1), 40)

    # 40 in a day is also the domain's L-SPAM11 (30 in 24 h).
    assert rspamd_map(state) == {mailbox.address: "L-SPAM20", mailbox.domain.name: "L-SPAM11"}
    assert state.hexists(KEY, f"address:{mailbox.address}")


def test_a_domain_block_puts_the_domain_in_rspamds_map(
    state, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        website_spam_at(mailbox.domain.name, timezone.now(), 30)

    assert rspamd_map(state)[mailbox.domain.name] == "L-SPAM11"


def test_an_escalation_replaces_the_code_and_the_old_lift_leaves_it(
    state, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now(), 20)  # L-SPAM00, then L-SPAM10 replaces it

    assert rspamd_map(state) == {mailbox.address: "L-SPAM10"}


def test_an_unblock_takes_the_entries_out_of_both_hashes(
    state, mailbox, django_capture_on_commit_callbacks
):
    other = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
        hosting_unblock(hosting=mailbox.domain.hosting, user=other)
        # The domain's L-SPAM11 of two days ago ran out; the lift job clears it.
        blocks_lift_expired()
    assert rspamd_map(state) == {} and state.hlen(KEY) == 0


def test_the_lift_job_takes_an_ended_timed_block_out_of_both_hashes(
    state, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now() - timedelta(minutes=21))  # L-SPAM00, ended
    assert rspamd_map(state) == {mailbox.address: "L-SPAM00"}
    with django_capture_on_commit_callbacks(execute=True):
        assert blocks_lift_expired() == 1
    assert rspamd_map(state) == {} and state.hlen(KEY) == 0


def test_the_rebuild_rewrites_both_hashes_and_drops_what_postgresql_no_longer_has(state, mailbox):
    # Redis missed these (no on_commit); the domain's L-SPAM11 has run out since.
    spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
    state.hset(RSPAMD_KEY, "gone@example.org", "L-SPAM20")
    state.hset(KEY, "address:gone@example.org", '{"id": 0, "code": "L-SPAM20", "rank": 3}')

    call_command("blockstate_rebuild")

    assert rspamd_map(state) == {mailbox.address: "L-SPAM20"}
    assert [f.decode() for f in state.hkeys(KEY)] == [f"address:{mailbox.address}"]
    assert standing(mailbox.address).code == "L-SPAM20"


def test_a_timed_block_tells_rspamd_until_when(
    state, mailbox, redis_client, django_capture_on_commit_callbacks
):
    from datetime import UTC

    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now())

    block = standing(mailbox.address)
    stored = redis_client.hget(RSPAMD_KEY, mailbox.address).decode()
    assert stored == f"L-SPAM00 until {block.ends_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
