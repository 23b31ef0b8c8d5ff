"""GET /metrics: who may scrape it, and that each figure is what the rows and counters say."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from hosting.counters import KEY, count
from tests.abuse.helpers import spam_at
from tests.abuse.test_policyd import Running, ask
from tests.webhooks.receiver import Answer, Receiver
from tests.workers import wait_until
from tracking.models import IngestEvent
from webhooks.events import Event
from webhooks.models import Endpoint
from webhooks.services import Occurrence, webhook_delivery_attempt, webhook_events_emit

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_counters(redis_client):
    from hosting.redis import client

    client.cache_clear()
    redis_client.delete(KEY)
    yield
    redis_client.delete(KEY)


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_a_scraper_outside_the_allowed_networks_needs_the_token(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.METRICS_TOKEN = "t0ken-for-prometheus-0123456789"
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outside).status_code == 403
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **outside)
    assert wrong.status_code == 403
    right = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer t0ken-for-prometheus-0123456789", **outside
    )
    assert right.status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


def test_no_hostile_header_or_query_makes_the_endpoint_fail(client, settings):
    settings.METRICS_TOKEN = "t0ken-for-prometheus-0123456789"
    rng = random.Random(14)
    alphabet = "Bearer t0ken-\x00é\r\t=%;,"
    for _ in range(200):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        response = client.get(
            "/metrics",
            {"name[]": value, "format": value},
            HTTP_AUTHORIZATION=value,
            REMOTE_ADDR="198.51.100.1",
        )
        assert response.status_code == 403


def test_the_ingest_backlog_its_age_and_parked_events_are_reported(client):
    now = timezone.now()
    IngestEvent.objects.create(kind="push", raw=b"x", received_at=now - timedelta(seconds=400))
    IngestEvent.objects.create(kind="push", raw=b"y", received_at=now - timedelta(seconds=10))
    IngestEvent.objects.create(kind="push", raw=b"z", received_at=now, parked_at=now)
    m = scrape(client)
    assert m["lwsmail_ingest_events_pending", ()] == 2
    assert m["lwsmail_ingest_events_parked", ()] == 1
    assert 400 <= m["lwsmail_ingest_lag_seconds", ()] < 460


def test_messages_waiting_in_the_redis_stream_count_in_the_backlog_and_its_age(
    client, settings, redis_client
):
    settings.INGEST_STREAM = "lwsmail:test:backlog"
    redis_client.delete(settings.INGEST_STREAM)
    added = int((timezone.now() - timedelta(seconds=500)).timestamp() * 1000)
    redis_client.xadd(settings.INGEST_STREAM, {"message": "x"}, id=f"{added}-0")
    redis_client.xadd(settings.INGEST_STREAM, {"message": "y"})
    IngestEvent.objects.create(kind="push", raw=b"x", received_at=timezone.now())
    try:
        m = scrape(client)
    finally:
        redis_client.delete(settings.INGEST_STREAM)
    assert m["lwsmail_ingest_events_pending", ()] == 3
    assert 500 <= m["lwsmail_ingest_lag_seconds", ()] < 560


def test_blocks_in_force_and_started_are_reported_by_code(client, mailbox):
    spam_at(mailbox.address, timezone.now() - timedelta(hours=1), 1)  # L-SPAM00, ended
    spam_at(mailbox.address, timezone.now(), 1)
    m = scrape(client)
    assert m["lwsmail_blocks_started_total", (("code", "L-SPAM00"),)] == 2
    assert m["lwsmail_blocks_active", (("code", "L-SPAM00"), ("scope", "address"))] == 1
    assert m["lwsmail_unblocks_total", (("exceptional", "false"),)] == 0


def test_recorded_messages_and_webhook_failures_are_counted_across_processes(client, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the local receiver, on purpose
    count("ingest_recorded", 3)
    count("ingest_recorded", 2)
    with Receiver(lambda n: Answer(500 if n == 0 else 200)) as receiver:
        Endpoint.objects.create(name="crm", url=receiver.url, events=[Event.BLOCK_STARTED])
        webhook_events_emit(occurrences=[Occurrence(event=Event.BLOCK_STARTED, key="k")])
        webhook_delivery_attempt(delivery_id=Endpoint.objects.get().deliveries.get().pk)
    m = scrape(client)
    assert m["lwsmail_ingest_recorded_total", ()] == 5
    assert m["lwsmail_webhook_attempts_total", (("outcome", "failed"),)] == 1
    assert m["lwsmail_webhook_attempts_total", (("outcome", "delivered"),)] == 0
    assert m["lwsmail_webhook_deliveries_pending", ()] == 1
    assert m["lwsmail_counters_up", ()] == 1


def test_policy_service_answers_and_their_latency_reach_the_metrics(
    client, settings, mailbox, redis_client, django_capture_on_commit_callbacks
):
    from enforcement.blockstate import KEY as BLOCKS

    redis_client.delete(BLOCKS)
    settings.POLICYD_STATS_SECONDS = 0.1
    with django_capture_on_commit_callbacks(execute=True):
        spam_at(mailbox.address, timezone.now(), 1)
    running = Running()
    try:
        answers = ask(
            running.port,
            [{"sender": mailbox.address}] + [{"sender": "someone@free.example"}] * 4,
        )
        assert answers[0].startswith("REJECT 5.7.1 L-SPAM00")
        assert wait_until(
            lambda: scrape(client).get(("lwsmail_policyd_answer_seconds_count", ())) == 5, 5
        )
    finally:
        running.stop()
        redis_client.delete(BLOCKS)
    m = scrape(client)
    assert m["lwsmail_policyd_answers_total", (("answer", "block"),)] == 1
    assert m["lwsmail_policyd_answers_total", (("answer", "dunno"),)] == 4
    assert m["lwsmail_policyd_answer_seconds_bucket", (("le", "+Inf"),)] == 5
    assert 0 < m["lwsmail_policyd_answer_seconds_sum", ()] < 5
    le = sorted(
        (float(dict(k[1])["le"]), v)
        for k, v in m.items()
        if k[0] == "lwsmail_policyd_answer_seconds_bucket"
    )
    assert [v for _, v in le] == sorted(v for _, v in le)  # cumulative


def test_the_sample_alert_rules_use_metrics_the_endpoint_exports(client):
    exported = {name for name, _ in scrape(client)}
    rules = yaml.safe_load((ROOT / "deploy/prometheus/lwsmail-alerts.yml").read_text())
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert "LwsmailIngestLag" in names
    for group in rules["groups"]:
        for rule in group["rules"]:
            used = set(re.findall(r"\blwsmail_[a-z_]+", rule["expr"]))
            assert used and used <= exported, (rule["alert"], used - exported)
    [lag] = [r for g in rules["groups"] for r in g["rules"] if r["alert"] == "LwsmailIngestLag"]
    assert lag["expr"] == "lwsmail_ingest_lag_seconds > 300"
