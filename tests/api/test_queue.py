"""The mail-host agent's queue endpoints: whose queued mail to hold (every standing block
and compromise hold), what a host holds now (its last report, replacing the one before,
hostile items counted and left out), and the deletions staff asked for."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from abuse.models import Block
from api.scopes import Scope
from limits.models import Hold
from tests.abuse.helpers import tier
from tests.factories import DomainFactory, MailboxFactory, UserFactory
from tracking.models import QueuedMessage
from tracking.queue import queue_delete_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(make_api):
    return make_api(scopes=[Scope.DELIVERIES_WRITE])


def held(queue_id: str, sender: str = "shop@boulangerie.example", **fields) -> dict:
    return {
        "queue_id": queue_id,
        "sender": sender,
        "recipients": ["anna@example.org"],
        "subject": "Offre de Noël",
        "arrived": 1796000000,
        **fields,
    }


def block(scope: str, target: str, **fields) -> Block:
    domain = DomainFactory(name=target.rpartition("@")[2])
    policy = tier("L-SPAM20")  # the scope is what the agent reads
    return Block.objects.create(
        scope=scope,
        target=target,
        hosting_id=domain.hosting_id,
        domain_id=domain.pk,
        tier=policy,
        code=policy.code,
        rank=policy.rank,
        spam_count=40,
        started_at=timezone.now() - timedelta(hours=1),
        **fields,
    )


def test_it_lists_the_senders_and_domains_whose_mail_stays_held(agent):
    block("address", "shop@boulangerie.example")
    block("domain", "spam.example")
    block("address", "old@lifted.example", lifted_at=timezone.now(), lift_reason="staff")
    box = MailboxFactory(address="hacked@fleuriste.example")
    Hold.objects.create(
        mailbox=box,
        hosting=box.domain.hosting,
        token="t-1",
        reason="networks",
        started_at=timezone.now(),
        observed=6,
        threshold=5,
    )
    state = agent.get("queue/", {"host": "mx1"})
    assert state.status_code == 200
    assert state.json() == {
        "addresses": ["hacked@fleuriste.example", "shop@boulangerie.example"],
        "domains": ["spam.example"],
        "delete": [],
    }
    assert agent.get("queue/").status_code == 400


def test_each_report_replaces_the_last_and_a_deletion_asked_stays_asked(agent):
    report = agent.post("queue/held/", {"host": "mx1", "held": [held("AAAAA1"), held("AAAAA2")]})
    assert report.json() == {"held": 2, "invalid": 0}
    staff = UserFactory(is_staff=True)
    asked = QueuedMessage.objects.filter(queue_id="AAAAA2")
    assert queue_delete_request(messages=asked, user=staff) == 1
    assert agent.get("queue/", {"host": "mx1"}).json()["delete"] == ["AAAAA2"]
    assert agent.get("queue/", {"host": "mx2"}).json()["delete"] == []
    agent.post("queue/held/", {"host": "mx1", "held": [held("AAAAA2"), held("AAAAA3")]})
    rows = dict(QueuedMessage.objects.values_list("queue_id", "delete_requested_at"))
    assert set(rows) == {"AAAAA2", "AAAAA3"} and rows["AAAAA2"] and not rows["AAAAA3"]
    agent.post("queue/held/", {"host": "mx1", "held": []})  # deleted, released: none left
    assert not QueuedMessage.objects.exists()


def test_hostile_reports_never_fail_and_keep_the_good_items(agent):
    rng = random.Random(28)
    junk = [None, 5, True, "", "x" * 2000, "\x00", [], {}, [None], ["a" * 300], -1, 1e300]
    for n in range(40):
        items = []
        for k in range(rng.randrange(1, 6)):
            item = held(f"Q{n:04d}X{k}")
            for name in rng.sample(list(item), rng.randrange(0, 3)):
                item[name] = rng.choice(junk)
            items.append(rng.choice([item, item, "not an object", None]))
        response = agent.post("queue/held/", {"host": "mx1", "held": items})
        assert response.status_code == 200, items
        counts = response.json()
        assert counts["held"] + counts["invalid"] == len(items)
        assert QueuedMessage.objects.count() == counts["held"]
    for body in ([], {"held": []}, {"host": "mx1", "held": "x"}, {"host": "", "held": []}):
        assert agent.post("queue/held/", body).status_code == 400


def test_a_token_limited_to_some_customers_gets_nothing(make_api):
    limited = make_api(
        scopes=[Scope.DELIVERIES_WRITE], customers=[MailboxFactory().domain.hosting.customer]
    )
    assert limited.get("queue/", {"host": "mx1"}).status_code == 403
    assert limited.post("queue/held/", {"host": "mx1", "held": []}).status_code == 403
