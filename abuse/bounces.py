"""Hard bounces: recipients refused with DSN 5.1.x (no such user, no such domain) over the
recipients delivered or bounced in the last 7 days, per address and per domain, from the
delivery results the mail hosts report (tracking/deliveries.py). Above 10 % over at least
100 recipients, the customer is warned and staff alerted, once per target in 7 days (a
list bought or scraped bounces first; Amazon SES reviews senders at 10 %). It blocks
nothing by itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app as app  # the project's app, whichever process runs it
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from abuse.models import BounceWarning, Scope
from hosting.models import Hosting
from hosting.services import audit_record
from webhooks.emails import warning_emails_send

log = logging.getLogger(__name__)

WINDOW = timedelta(days=7)
RATE = 0.10  # warned above it
MIN_RECIPIENTS = 100  # and over at least this many
NOTIFY_TASK = "abuse.tasks.notify_bounce_warning"


@dataclass(frozen=True)
class BounceRate:
    scope: str
    target: str
    hosting_id: int
    bounced: int
    recipients: int

    @property
    def rate(self) -> float:
        return self.bounced / self.recipients if self.recipients else 0.0

    @property
    def percent(self) -> float:
        return round(self.rate * 100, 1)

    @property
    def over(self) -> bool:
        return self.recipients >= MIN_RECIPIENTS and self.rate > RATE


def bounce_rates(*, now: datetime, hosting: Hosting | None = None) -> list[BounceRate]:
    """Each address's and domain's hard bounces and recipients in the 7 days before `now`
    (results logged after now - 7 days, up to now), joined to their messages by queue id."""
    since = now - WINDOW
    where = "AND m.hosting_id = %(hosting)s" if hosting is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT m.sender, m.mailbox_id IS NOT NULL, dom.name, m.hosting_id,
                       count(*) FILTER (WHERE d.status = 'bounced' AND d.dsn LIKE '5.1.%%'),
                       count(*)
                  FROM tracking_delivery d
                  JOIN tracking_outboundmessage m
                    ON m.queue_id = d.queue_id
                   AND m.sent_at >= %(oldest)s AND m.sent_at <= d.logged_at + interval '1 hour'
                  JOIN lwsmail_domain dom ON dom.id = m.domain_id
                 WHERE d.logged_at > %(since)s AND d.logged_at <= %(now)s
                   AND d.status IN ('delivered', 'bounced') AND d.recipient <> ''
                   AND m.hosting_id IS NOT NULL {where}
                 GROUP BY 1, 2, 3, 4""",
            {
                "since": since,
                "now": now,
                # A message is delivered within the queue's lifetime (5 days) of being sent.
                "oldest": since - timedelta(days=6),
                "hosting": hosting.pk if hosting is not None else None,
            },
        )
        rows = cursor.fetchall()
    addresses: dict[str, list[int]] = {}
    domains: dict[tuple[str, int], list[int]] = {}
    hostings: dict[str, int] = {}
    for sender, is_mailbox, domain, hosting_id, bounced, total in rows:
        if is_mailbox:
            counts = addresses.setdefault(sender.lower(), [0, 0])
            counts[0] += bounced
            counts[1] += total
            hostings[sender.lower()] = hosting_id
        counts = domains.setdefault((domain, hosting_id), [0, 0])
        counts[0] += bounced
        counts[1] += total
    out = [
        BounceRate(Scope.ADDRESS, address, hostings[address], b, t)
        for address, (b, t) in sorted(addresses.items())
    ]
    out += [
        BounceRate(Scope.DOMAIN, domain, hosting_id, b, t)
        for (domain, hosting_id), (b, t) in sorted(domains.items())
    ]
    return out


def bounce_warnings_issue(*, now: datetime | None = None) -> int:
    """Warn each address and domain over the rate that was not warned in the last 7 days;
    returns how many were warned."""
    now = now or timezone.now()
    issued = 0
    for found in bounce_rates(now=now):
        if not found.over:
            continue
        with transaction.atomic():
            # One warning per target in 7 days, even with two beat runs at once.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"bounces:{found.target}"]
                )
            recent = BounceWarning.objects.filter(
                scope=found.scope, target=found.target, created_at__gt=now - WINDOW
            )
            if recent.exists():
                continue
            warning = BounceWarning.objects.create(
                scope=found.scope,
                target=found.target,
                hosting_id=found.hosting_id,
                bounced=found.bounced,
                recipients=found.recipients,
                created_at=now,
            )
            audit_record(
                action="bounces.warning",
                hosting=found.hosting_id,
                subject=found.target,
                at=now,
                data={"bounced": found.bounced, "recipients": found.recipients},
            )
            transaction.on_commit(lambda pk=warning.pk: _queue(pk))
            issued += 1
    return issued


def _queue(warning_id: int) -> None:
    try:
        app.send_task(NOTIFY_TASK, args=[warning_id])
    except Exception:  # broker down: the next sweep's pending check sends it
        log.exception("could not queue the bounce warning %s", warning_id)


def bounce_warning_notify(*, warning_id: int) -> bool:
    """E-mail the customer (in their language) and staff, once; returns whether it went."""
    with transaction.atomic():
        warning = (
            BounceWarning.objects.select_for_update(of=("self",))
            .select_related("hosting__customer")
            .filter(pk=warning_id, notified_at__isnull=True)
            .first()
        )
        if warning is None:
            return False
        account = warning.hosting.customer
        site = settings.SITE_URL.rstrip("/")
        context = {
            "warning": warning,
            "account": account,
            "is_domain": warning.scope == Scope.DOMAIN,
            "percent": round(warning.rate * 100, 1),
            "limit_percent": round(RATE * 100),
            "days": WINDOW.days,
            "tracking_url": site
            + reverse("tracking", args=[warning.hosting_id])
            + "?delivery=bounced",
            "abuse_url": site + reverse("mail-abuse", args=[warning.hosting_id]),
        }
        warning_emails_send(
            name="bounces",
            key=warning.pk,
            context=context,
            account=account,
            hosting_id=warning.hosting_id,
        )
        BounceWarning.objects.filter(pk=warning.pk).update(notified_at=timezone.now())
    return True


def bounce_warnings_notify_pending(*, now: datetime | None = None) -> int:
    """Send the warnings whose e-mail task was lost (10 minutes without one)."""
    now = now or timezone.now()
    pending = BounceWarning.objects.filter(
        notified_at__isnull=True, created_at__lt=now - timedelta(minutes=10)
    ).values_list("pk", flat=True)
    return sum(bounce_warning_notify(warning_id=pk) for pk in list(pending))
