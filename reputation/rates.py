"""Complaint rate per domain: the messages complained about (feedback-loop reports
received in the last 30 days) over the messages delivered (a recipient's delivery result
logged in those 30 days). Above 0.1 % over at least 1,000 delivered, the customer gets
one early-warning e-mail and staff an alert, once per domain in 30 days (Gmail asks
senders to stay under 0.1 % and never reach 0.3 %). It blocks nothing by itself: each
complaint already counts its message as spam."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app as app  # the project's app, whichever process runs it
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from hosting.models import Domain
from hosting.services import audit_record
from reputation.models import ComplaintWarning
from tracking.models import Complaint
from webhooks.emails import warning_emails_send

log = logging.getLogger(__name__)

WINDOW = timedelta(days=30)
RATE = 0.001  # warned above it
MIN_DELIVERED = 1000  # and over at least this many delivered messages
NOTIFY_TASK = "reputation.tasks.notify_complaint_warning"


@dataclass(frozen=True)
class ComplaintRate:
    domain_id: int
    domain: str
    hosting_id: int
    complaints: int
    delivered: int

    @property
    def rate(self) -> float:
        return self.complaints / self.delivered if self.delivered else 0.0

    @property
    def percent(self) -> float:
        return round(self.rate * 100, 2)

    @property
    def over(self) -> bool:
        return self.delivered >= MIN_DELIVERED and self.rate > RATE


def _delivered(domain_ids: list[int], since: datetime, now: datetime) -> dict[int, int]:
    """Messages of each domain with a recipient delivered in (since, now], joined to their
    results by queue id as the delivery column of the tracking page is."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT m.domain_id, count(DISTINCT m.id)
                 FROM tracking_delivery d
                 JOIN tracking_outboundmessage m
                   ON m.queue_id = d.queue_id
                  AND m.sent_at >= %(oldest)s AND m.sent_at <= d.logged_at + interval '1 hour'
                WHERE d.logged_at > %(since)s AND d.logged_at <= %(now)s
                  AND d.status = 'delivered' AND d.recipient <> ''
                  AND m.domain_id = ANY(%(domains)s)
                GROUP BY 1""",
            {
                "since": since,
                "now": now,
                # A message is delivered within the queue's lifetime (5 days) of being sent.
                "oldest": since - timedelta(days=6),
                "domains": domain_ids,
            },
        )
        return dict(cursor.fetchall())


def complaint_rates(*, now: datetime, domain_ids: list[int] | None = None) -> list[ComplaintRate]:
    """Each domain's complaints and delivered messages in the 30 days before `now`, for the
    domains with a complaint then (of `domain_ids` when given)."""
    since = now - WINDOW
    complained = Complaint.objects.filter(received_at__gt=since, received_at__lte=now)
    if domain_ids is not None:
        complained = complained.filter(domain_id__in=domain_ids)
    counts = dict(
        complained.order_by()
        .values("domain_id")
        .annotate(n=Count("message_id", distinct=True))
        .values_list("domain_id", "n")
    )
    if not counts:
        return []
    delivered = _delivered(list(counts), since, now)
    domains = Domain.objects.in_bulk(list(counts))
    return [
        ComplaintRate(pk, domains[pk].name, domains[pk].hosting_id, n, delivered.get(pk, 0))
        for pk, n in sorted(counts.items())
        if pk in domains
    ]


def complaint_warnings_issue(*, now: datetime | None = None) -> int:
    """Warn each domain over the rate that was not warned in the last 30 days; returns how
    many were warned."""
    now = now or timezone.now()
    issued = 0
    for found in complaint_rates(now=now):
        if not found.over:
            continue
        with transaction.atomic():
            # One warning per domain in 30 days, even with two beat runs at once.
            Domain.objects.select_for_update().filter(pk=found.domain_id).values("pk").first()
            recent = ComplaintWarning.objects.filter(
                domain_id=found.domain_id, created_at__gt=now - WINDOW
            )
            if recent.exists():
                continue
            warning = ComplaintWarning.objects.create(
                domain_id=found.domain_id,
                hosting_id=found.hosting_id,
                complaints=found.complaints,
                delivered=found.delivered,
                created_at=now,
            )
            audit_record(
                action="complaints.warning",
                hosting=found.hosting_id,
                subject=found.domain,
                at=now,
                data={"complaints": found.complaints, "delivered": found.delivered},
            )
            transaction.on_commit(lambda pk=warning.pk: _queue(pk))
            issued += 1
    return issued


def _queue(warning_id: int) -> None:
    try:
        app.send_task(NOTIFY_TASK, args=[warning_id])
    except Exception:  # broker down: the next sweep sends it (complaint_warnings_notify_pending)
        log.exception("could not queue the complaint warning %s", warning_id)


def complaint_warning_notify(*, warning_id: int) -> bool:
    """E-mail the customer (in their language) and staff, once; returns whether it went."""
    with transaction.atomic():
        warning = (
            ComplaintWarning.objects.select_for_update(of=("self",))
            .select_related("hosting__customer", "domain")
            .filter(pk=warning_id, notified_at__isnull=True)
            .first()
        )
        if warning is None:
            return False
        account = warning.hosting.customer
        site = settings.SITE_URL.rstrip("/")
        context = {
            "warning": warning,
            "domain": warning.domain.name,
            "account": account,
            "percent": round(warning.rate * 100, 2),
            "limit_percent": RATE * 100,
            "days": WINDOW.days,
            "abuse_url": site + reverse("mail-abuse", args=[warning.hosting_id]),
        }
        warning_emails_send(
            name="complaints",
            key=warning.pk,
            context=context,
            account=account,
            hosting_id=warning.hosting_id,
        )
        ComplaintWarning.objects.filter(pk=warning.pk).update(notified_at=timezone.now())
    return True


def complaint_warnings_sweep(
    *, now: datetime | None = None, pending_after: float = 600
) -> tuple[int, int]:
    """Issue the warnings due, and send those whose e-mail task was lost (none for
    `pending_after` seconds); returns how many were issued and sent."""
    now = now or timezone.now()
    issued = complaint_warnings_issue(now=now)
    pending = ComplaintWarning.objects.filter(
        notified_at__isnull=True, created_at__lte=now - timedelta(seconds=pending_after)
    ).values_list("pk", flat=True)
    return issued, sum(complaint_warning_notify(warning_id=pk) for pk in list(pending))
