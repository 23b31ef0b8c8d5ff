"""What the /metrics endpoint reports, read at each scrape: the shared event counters
(hosting/counters.py) and the state PostgreSQL holds now (ingest backlog, blocks, holds,
webhook deliveries). Each figure is one indexed query; nothing here scans the message store."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis import RedisError

from abuse.models import Block, Unblock
from hosting.counters import LATENCY_BUCKETS, read
from limits.models import Hold
from ops.health import ingest_backlog
from reputation.blocklists import blocklist_statuses
from reputation.models import ParkedReport
from webhooks.models import Delivery


def _labelled(name: str, doc: str, label: str, values: dict[str, float], kind=GaugeMetricFamily):
    family = kind(name, doc, labels=[label])
    for value, n in sorted(values.items()):
        family.add_metric([value], n)
    return family


class StateCollector(Collector):
    def __init__(self, redis) -> None:
        self.redis = redis

    def collect(self) -> Iterator[Metric]:
        yield from self._database()
        yield from self._counters()

    def _database(self) -> Iterator[Metric]:
        now = timezone.now()
        backlog = ingest_backlog(now=now)
        yield GaugeMetricFamily(
            "lwsmail_ingest_events_pending",
            "Ingest events waiting for a worker, in PostgreSQL or in the Redis stream.",
            backlog.pending,
        )
        yield GaugeMetricFamily(
            "lwsmail_ingest_events_parked",
            "Ingest events parked for staff (recording failed).",
            backlog.parked,
        )
        yield GaugeMetricFamily(
            "lwsmail_ingest_lag_seconds",
            "Age of the oldest ingest event still waiting (0: none waits).",
            backlog.oldest_seconds,
        )
        active = GaugeMetricFamily(
            "lwsmail_blocks_active", "Blocks in force now.", labels=["code", "scope"]
        )
        for row in Block.objects.active(now).values("code", "scope").annotate(n=Count("id")):
            active.add_metric([row["code"], row["scope"]], row["n"])
        yield active
        started = dict(Block.objects.values_list("code").annotate(n=Count("id")))
        yield _labelled(
            "lwsmail_blocks_started", "Blocks started.", "code", started, CounterMetricFamily
        )
        unblocks = CounterMetricFamily(
            "lwsmail_unblocks", "Unblock mailboxes used.", labels=["exceptional"]
        )
        counted = dict(
            Unblock.objects.values_list("used_exceptional_grant").annotate(n=Count("id"))
        )
        for exceptional in (False, True):
            unblocks.add_metric([str(exceptional).lower()], counted.get(exceptional, 0))
        yield unblocks
        listed = GaugeMetricFamily(
            "lwsmail_blocklist_listed",
            "1 while the zone lists the outbound address (its last verdict), else 0.",
            labels=["address", "zone"],
        )
        failing = GaugeMetricFamily(
            "lwsmail_blocklist_lookup_failing",
            "1 when the last lookup of the address in the zone gave no verdict.",
            labels=["address", "zone"],
        )
        for status in blocklist_statuses():
            labels = [status.address.address, status.zone.zone]
            listed.add_metric(labels, int(status.listed))
            failing.add_metric(labels, int(bool(status.error)))
        yield listed
        yield failing
        yield GaugeMetricFamily(
            "lwsmail_feedback_reports_parked",
            "Feedback reports parked for staff (matched no message, or unreadable).",
            ParkedReport.objects.count(),
        )
        yield GaugeMetricFamily(
            "lwsmail_holds_active", "Compromise holds standing.", Hold.objects.standing().count()
        )
        yield GaugeMetricFamily(
            "lwsmail_webhook_deliveries_pending",
            "Webhook deliveries not yet delivered.",
            Delivery.objects.pending().count(),
        )
        yield GaugeMetricFamily(
            "lwsmail_webhook_deliveries_given_up",
            "Webhook deliveries given up after a day of retries (kept WEBHOOK_KEEP_DAYS).",
            Delivery.objects.filter(failed_at__isnull=False).count(),
        )

    def _counters(self) -> Iterator[Metric]:
        try:
            counters = read(self.redis)
        except RedisError:
            yield GaugeMetricFamily("lwsmail_counters_up", "Shared counters readable in Redis.", 0)
            return
        yield GaugeMetricFamily("lwsmail_counters_up", "Shared counters readable in Redis.", 1)

        def prefixed(prefix: str) -> dict[str, float]:
            return {k[len(prefix) :]: v for k, v in counters.items() if k.startswith(prefix)}

        yield CounterMetricFamily(
            "lwsmail_ingest_recorded",
            "Messages recorded by the workers.",
            counters.get("ingest_recorded", 0),
        )
        yield CounterMetricFamily(
            "lwsmail_ingest_parked", "Ingest events parked.", counters.get("ingest_parked", 0)
        )
        attempts = prefixed("webhook_attempts:")
        yield _labelled(
            "lwsmail_webhook_attempts",
            "Webhook POSTs by outcome (failed: no 2xx answer).",
            "outcome",
            {"delivered": attempts.get("delivered", 0), "failed": attempts.get("failed", 0)},
            CounterMetricFamily,
        )
        yield CounterMetricFamily(
            "lwsmail_webhook_given_up",
            "Webhook deliveries given up.",
            counters.get("webhook_given_up", 0),
        )
        for name, doc in (
            ("login_attempts_recorded", "Logins Dovecot reported, stored in the access log."),
            ("login_delayed", "Logins the brute-force defence made wait."),
            ("login_refused", "Logins the brute-force defence refused."),
            ("login_refusals_started", "Clients refused for an hour after too many failures."),
            ("login_reports_parked", "Login reports that could not be read, parked."),
            ("delivery_results_stored", "Delivery results the mail hosts shipped, stored."),
            ("delivery_results_refused", "Shipped delivery results that were not ones."),
            ("delivery_log_lines_skipped", "Mail log lines the agents read that were not results."),
            ("complaints_counted", "Feedback-loop complaints that made their message spam."),
            ("complaints_matched", "Complaints about a message that was spam already."),
            ("complaints_duplicate", "Feedback reports received again (stored once)."),
            ("complaints_parked", "Feedback reports parked for staff (no match, unreadable)."),
            ("blocklist_lookups", "DNS blocklist lookups made."),
            ("blocklist_lookup_errors", "DNS blocklist lookups that gave no verdict."),
        ):
            yield CounterMetricFamily(f"lwsmail_{name}", doc, counters.get(name, 0))
        answers = prefixed("policyd_answers:")
        yield _labelled(
            "lwsmail_policyd_answers",
            "Policy service answers by kind (dunno, block, hold, rate, unavailable).",
            "answer",
            answers,
            CounterMetricFamily,
        )
        buckets, cumulative = [], 0.0
        per_bucket = prefixed("policyd_latency_bucket:")
        for i, bound in enumerate((*LATENCY_BUCKETS, float("inf"))):
            cumulative += per_bucket.get(str(i), 0)
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "lwsmail_policyd_answer_seconds",
            "Policy service time from a request read to its answer written.",
            buckets=buckets,
            sum_value=counters.get("policyd_latency_sum", 0.0),
        )
