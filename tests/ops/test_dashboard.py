"""The operations dashboard: staff only, every hosting's blocks, and figures that are
exactly what the rows they summarise say, at the edges of their periods."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from abuse.models import Block
from abuse.services import blockstate_rebuild
from enforcement.blockstate import KEY
from hosting.redis import client as state_client
from ops.selectors import days, repeat_offenders, top_spammers, unattributed
from tests.abuse.helpers import spam_at, standing
from tests.factories import MailboxFactory, UserFactory, message_data
from tests.harness.common import free_port
from tracking.models import OutboundMessage
from tracking.services import messages_store

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 1, 1, 0, 0, 30, tzinfo=UTC)  # just after a year's end


def blocks_table(html: str) -> str:
    """The table of blocks now (the address may stand elsewhere on the page too)."""
    if 'id="blocks-now"' not in html:
        return ""
    return html.split('id="blocks-now"', 1)[1].split("</table>", 1)[0]


@pytest.fixture
def staff_client(client, settings):
    settings.RSPAMD_URL = f"http://127.0.0.1:{free_port()}"  # no Rspamd: checked as failing
    client.force_login(UserFactory(username="support", is_staff=True, is_superuser=True))
    return client


@pytest.fixture(autouse=True)
def empty_state(redis_client):
    state_client.cache_clear()
    redis_client.delete(KEY)
    yield
    redis_client.delete(KEY)


def test_a_customer_and_a_stranger_are_sent_to_the_staff_login(client):
    assert client.get("/admin/operations/")["Location"].startswith("/admin/login/")
    client.force_login(UserFactory())
    response = client.get("/admin/operations/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_admin_front_page_links_to_it(staff_client):
    assert 'href="/admin/operations/"' in staff_client.get("/admin/").content.decode()


def test_staff_see_the_blocks_of_every_hosting_with_links_to_each(staff_client):
    a, b = MailboxFactory(), MailboxFactory()
    spam_at(a.address, timezone.now(), 1)
    spam_at(b.address, timezone.now() - timedelta(days=2), 40)
    html = staff_client.get("/admin/operations/").content.decode()
    for box in (a, b):
        assert box.address in html
        assert f'href="/admin/lwsmail/hosting/{box.domain.hosting_id}/change/"' in html
        assert f'href="/h/{box.domain.hosting_id}/abuse/"' in html
    assert "Blocked now: 2" in html


@pytest.mark.parametrize("second, shown", [(-1, True), (1, False)])
def test_the_age_filter_cuts_at_the_hour_to_the_second(staff_client, mailbox, second, shown):
    now = timezone.now().replace(microsecond=0)
    spam_at(mailbox.address, now - timedelta(hours=1) - timedelta(seconds=second), 40)
    with time_machine.travel(now, tick=False):
        html = staff_client.get("/admin/operations/", {"age": "1h", "scope": "address"}).content
    assert (mailbox.address in blocks_table(html.decode())) is shown


def test_the_code_filter_shows_only_that_code(staff_client):
    a, b = MailboxFactory(), MailboxFactory()
    spam_at(a.address, timezone.now(), 1)
    spam_at(b.address, timezone.now() - timedelta(days=2), 40)
    html = staff_client.get("/admin/operations/", {"code": "L-SPAM20"}).content.decode()
    assert b.address in blocks_table(html) and a.address not in blocks_table(html)


def test_no_hostile_query_string_fails_the_page_or_filters_it(staff_client, mailbox):
    spam_at(mailbox.address, timezone.now(), 1)
    rng = random.Random(14)
    alphabet = "L-SPAM20' OR 1=1;%\x00é<script>/"
    for _ in range(60):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        response = staff_client.get(
            "/admin/operations/", {"code": junk, "scope": junk, "age": junk}
        )
        assert response.status_code == 200
        assert mailbox.address in response.content.decode()
        if "<" in junk:
            assert junk not in response.content.decode()


def store(sender: str, at: datetime, *, spam: bool) -> None:
    """A message stored as history only (no block counted for it)."""
    data = replace(message_data(sender=sender, sent_at=at), is_spam=spam)
    messages_store(datas=[data], now=at)


def test_the_charts_count_each_day_from_midnight_to_midnight_utc(mailbox):
    store(mailbox.address, datetime(2026, 12, 30, 23, 59, 59, tzinfo=UTC), spam=True)
    store(mailbox.address, datetime(2026, 12, 31, 0, 0, 0, tzinfo=UTC), spam=True)
    store(mailbox.address, datetime(2026, 12, 31, 12, 0, 0, tzinfo=UTC), spam=False)
    store(mailbox.address, datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC), spam=True)
    with time_machine.travel(datetime(2026, 12, 31, 23, 59, 0, tzinfo=UTC), tick=False):
        spam_at(mailbox.address, timezone.now(), 1)  # a block, and one more spam that day
    series = {d.day.isoformat(): (d.blocks, d.spam) for d in days(count=30, now=NOW)}
    assert len(series) == 30
    assert series["2026-12-30"] == (0, 1)
    assert series["2026-12-31"] == (1, 2)
    assert series["2027-01-01"] == (0, 1)
    assert sum(s for _, s in series.values()) == OutboundMessage.objects.spam().count()
    first = min(series)
    assert first == "2026-12-03"


def test_top_spammers_count_the_week_to_the_second(mailbox):
    other = MailboxFactory()
    week = NOW - timedelta(days=7)
    store(mailbox.address, week - timedelta(seconds=1), spam=True)  # outside
    store(mailbox.address, week, spam=True)
    store(other.address, week + timedelta(seconds=1), spam=True)
    store(other.address, NOW, spam=True)
    store(other.address, NOW, spam=False)
    hostings, addresses = top_spammers(since=week, now=NOW)
    assert [(r.name, r.spam) for r in addresses] == [(other.address, 2), (mailbox.address, 1)]
    assert [(r.hosting.pk, r.spam) for r in hostings] == [
        (other.domain.hosting_id, 2),
        (mailbox.domain.hosting_id, 1),
    ]


@pytest.mark.parametrize("second, repeated", [(1, True), (-1, False)])
def test_a_repeat_offender_has_two_blocks_of_any_code_within_90_days(mailbox, second, repeated):
    spam_at(mailbox.address, NOW - timedelta(days=90) + timedelta(seconds=second), 1)
    spam_at(mailbox.address, NOW - timedelta(days=1), 1)  # each an L-SPAM00 of 20 minutes

    found = repeat_offenders(now=NOW)

    assert bool(found) is repeated
    if repeated:
        assert found[0].target == mailbox.address and found[0].blocks == 2
        assert found[0].codes == ["L-SPAM00", "L-SPAM00"]


def test_an_address_blocked_again_and_again_in_3_days_is_a_repeat_offender(staff_client, mailbox):
    start = timezone.now() - timedelta(days=3)
    for n in range(47):  # a spam an hour: L-SPAM00s, then the escalations they add up to
        spam_at(mailbox.address, start + timedelta(hours=n), 1)
    blocks = Block.objects.filter(target=mailbox.address).count()

    html = staff_client.get("/admin/operations/").content.decode()

    section = html[html.index('id="offenders"') :]
    section = section[: section.index("</section>")]
    assert "blocks of any code" in section and "last 90 days" in section
    assert mailbox.address in section and f"<td>{blocks}</td>" in section
    codes = re.sub(r"<[^>]+>", "", section)
    assert "L-SPAM00, L-SPAM00" in codes and blocks > 2


def test_unattributed_messages_are_counted(mailbox):
    store("nobody@unknown.example", NOW - timedelta(days=1), spam=False)
    store(mailbox.address, NOW - timedelta(days=1), spam=False)
    assert unattributed(since=NOW - timedelta(days=7)) == 1


def test_health_says_which_check_fails_and_a_block_missing_from_redis(staff_client, mailbox):
    spam_at(mailbox.address, timezone.now(), 1)
    html = staff_client.get("/admin/operations/").content.decode()
    assert 'Rspamd</th><td><span class="ops-bad">FAILING' in html
    assert "1 missing from Redis" in html
    blockstate_rebuild()
    html = staff_client.get("/admin/operations/").content.decode()
    assert "0 missing from Redis, 0 no longer standing" in html
    assert "last rebuild never" not in html


def test_a_policy_service_that_answers_is_ok_and_one_that_does_not_is_failing(
    staff_client, settings
):
    from tests.abuse.test_policyd import Running

    running = Running()
    try:
        closed = free_port()
        settings.POLICYD_PROBE_ADDRESSES = [f"127.0.0.1:{running.port}", f"127.0.0.1:{closed}"]
        html = staff_client.get("/admin/operations/").content.decode()
    finally:
        running.stop()
    assert f'Policy service 127.0.0.1:{running.port}</th><td><span class="ops-ok">OK' in html
    assert "answered DUNNO" in html or "answered action=DUNNO" in html
    assert f'Policy service 127.0.0.1:{closed}</th><td><span class="ops-bad">FAILING' in html


def test_times_are_shown_in_utc_as_the_headers_say(staff_client, mailbox, settings):
    settings.TIME_ZONE = "Europe/Paris"
    spam_at(mailbox.address, timezone.now(), 1)
    block = standing(mailbox.address)
    table = blocks_table(staff_client.get("/admin/operations/").content.decode())
    assert f"{block.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}" in table
    assert "Started (UTC)" in table and "Ends (UTC)" in table
