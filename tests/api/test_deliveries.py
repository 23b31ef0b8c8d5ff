"""POST /api/v1/deliveries/, the mail-host agent's endpoint: only a token with its scope that
reaches every customer; each result checked alone, stored once; hostile batches never
fail it; a result that comes before its message is shown once the message is there."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from api.scopes import Scope
from tests.factories import MailboxFactory, sent_message
from tracking.deliveries import message_deliveries
from tracking.models import Delivery

pytestmark = pytest.mark.django_db

QID = "4dQ8Xv1Zk2z9bKM"


def result(**fields) -> dict:
    return {
        "queue_id": QID,
        "recipient": "anna@example.org",
        "status": "delivered",
        "dsn": "2.0.0",
        "reply": "250 2.0.0 Ok: queued as 4dQ8Y3mP1Lz",
        "relay": "mx.example.org[192.0.2.25]:25",
        "delay": 0.42,
        "logged_at": "2026-12-07T16:00:01+01:00",
        **fields,
    }


@pytest.fixture
def agent(make_api):
    return make_api(scopes=[Scope.DELIVERIES_WRITE])


def ship(api, deliveries, **extra):
    return api.post("deliveries/", {"host": "mx1", "deliveries": deliveries, **extra})


def test_results_are_stored_once_however_often_they_come(agent, settings, redis_client):
    from hosting.counters import KEY

    redis_client.hdel(KEY, "delivery_results_stored", "delivery_log_lines_skipped")
    first = ship(agent, [result(), result(recipient="bob@example.net", status="bounced")])
    assert first.status_code == 200
    assert first.json() == {"stored": 2, "duplicates": 0, "invalid": 0}
    again = ship(agent, [result()], skipped=7)
    assert again.json() == {"stored": 0, "duplicates": 1, "invalid": 0}
    assert Delivery.objects.count() == 2
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    text = agent.client.get("/metrics").content.decode()
    assert "lwsmail_delivery_results_stored_total 2.0" in text
    assert "lwsmail_delivery_log_lines_skipped_total 7.0" in text


def test_a_token_without_the_scope_or_limited_to_some_customers_is_refused(make_api):
    assert ship(make_api(scopes=[Scope.MESSAGES_READ]), [result()]).status_code == 403
    limited = make_api(
        scopes=[Scope.DELIVERIES_WRITE], customers=[MailboxFactory().domain.hosting.customer]
    )
    assert ship(limited, [result()]).status_code == 403
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"deliveries": []},
        {"host": "mx1", "deliveries": "x"},
        {"host": "mx1", "deliveries": [result()] * 1001},
        {"host": "mx1\x00", "deliveries": []},
        {"host": "mx1", "deliveries": [], "skipped": -1},
    ],
)
def test_a_batch_that_is_not_one_is_a_400(agent, body):
    response = agent.client.post(
        "/api/v1/deliveries/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {agent.key}",
    )
    assert response.status_code == 400
    assert not Delivery.objects.exists()


def test_hostile_results_are_counted_and_never_keep_the_good_ones_out(agent):
    rng = random.Random(27)
    junk = [None, 5, 1e308, -1, True, "", "x" * 3000, "\x00", [], {}, "2026-02-30T00:00:00+00:00"]
    fields = ["queue_id", "recipient", "status", "dsn", "reply", "relay", "delay", "logged_at"]
    good = 0
    for n in range(60):
        items = []
        for _ in range(rng.randrange(1, 8)):
            item = result(recipient=f"r{n}-{len(items)}@example.org")
            for name in rng.sample(fields, rng.randrange(0, 3)):
                item[name] = rng.choice(junk)
            items.append(rng.choice([item, item, "not an object", None]))
        response = ship(agent, items)
        assert response.status_code == 200, items
        counts = response.json()
        assert counts["stored"] + counts["duplicates"] + counts["invalid"] == len(items)
        good += counts["stored"]
    assert Delivery.objects.count() == good > 0
    assert not any("\x00" in reply for reply in Delivery.objects.values_list("reply", flat=True))


def test_a_result_that_comes_before_its_message_is_shown_with_it(agent):
    ship(agent, [result(status="deferred", dsn="4.7.0", reply="421 4.7.0 later")])
    box = MailboxFactory()
    sent_at = datetime(2026, 12, 7, 14, 59, tzinfo=UTC)
    message = sent_message(
        box, at=sent_at, queue_id=QID, recipients=["Anna@example.org", "bob@example.net"]
    )
    ship(agent, [result(logged_at="2026-12-07T16:10:00+01:00")])
    ship(agent, [result(recipient="", status="expired", dsn="", reply="returned to sender")])
    (anna,) = message_deliveries(message)
    assert (anna.recipient, anna.status, anna.attempts) == ("anna@example.org", "delivered", 2)
    ship(agent, [result(recipient="bob@example.net", status="deferred", dsn="4.4.1")])
    expired = result(recipient="", status="expired", dsn="", logged_at="2026-12-07T18:00:01+01:00")
    ship(agent, [expired])
    rows = {r.recipient: r.status for r in message_deliveries(message)}
    assert rows == {"anna@example.org": "delivered", "bob@example.net": "expired"}
    # Another message that reused the queue id long before is not this one's.
    message.sent_at = sent_at + timedelta(days=30)
    assert message_deliveries(message) == []


def test_a_new_bounce_of_a_stored_message_is_told_to_the_webhooks_once(agent, make_api, settings):
    from webhooks.events import Event
    from webhooks.models import Delivery as WebhookDelivery
    from webhooks.models import Endpoint

    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    Endpoint.objects.create(
        name="crm", url="http://127.0.0.1:9/hook", events=[Event.MESSAGE_BOUNCED]
    )
    box = MailboxFactory()
    sent_at = datetime(2026, 12, 7, 14, 59, tzinfo=UTC)
    message = sent_message(box, at=sent_at, queue_id=QID, recipients=["nobody@example.com"])
    bounce = result(
        recipient="nobody@example.com", status="bounced", dsn="5.1.1", reply="550 5.1.1 unknown"
    )
    ship(agent, [bounce, result()])
    ship(agent, [bounce])  # shipped again: told once
    (told,) = WebhookDelivery.objects.filter(event=Event.MESSAGE_BOUNCED)
    body = json.loads(told.body)
    assert body["data"] == {
        "message_id": message.pk,
        "sender": box.address,
        "recipient": "nobody@example.com",
        "dsn": "5.1.1",
        "reply": "550 5.1.1 unknown",
        "queue_id": QID,
    }
    assert told.hosting_id == box.domain.hosting_id
    reader = make_api(scopes=[Scope.MESSAGES_READ])
    response = reader.get("messages/", {"hosting": box.domain.hosting_id})
    assert response.json()["results"][0]["delivery"] == "bounced"
