"""Changing sending limits (the customer's own, lower only, and staff's); compromise holds:
baselines, recording what the policy service held, lifting."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enforcement.blockstate import redis_apply
from enforcement.counters import REFUSED_KEY, key_parts
from hosting.durations import HOUR
from hosting.models import Domain, Mailbox
from hosting.services import audit_record, mailbox_set_password
from limits.models import (
    DomainLimit,
    Hold,
    HoldSettings,
    MailboxBaseline,
    MailboxLimit,
    SendingLimits,
    hourly_above_daily,
)
from limits.notifications import hold_notification_queue, holds_pending
from limits.selectors import counter_hostings, own_limit_ceilings
from limits.state import (
    hold_forget,
    hold_restore,
    hold_withdraw,
    holds_stored,
    limits_publish,
    limits_rebuild,
)
from tracking.models import OutboundMessage, Source, Status
from webhooks.events import Event
from webhooks.models import Endpoint
from webhooks.services import Occurrence, webhook_event_emit, webhook_events_emit

log = logging.getLogger(__name__)


class LimitRefused(ValueError):
    """A customer's own limit that is not a count of recipients or exceeds the inherited."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def own_limit_set(
    *,
    target: Domain | Mailbox,
    values: dict[str, int | None],
    user: AbstractBaseUser | None,
    client_ip: str | None = None,
) -> DomainLimit | MailboxLimit:
    """Set a domain's or a mailbox's own limits (None: the inherited one), never above what
    it inherits; audited, and published to the policy service and Rspamd after the commit."""
    ceilings = own_limit_ceilings(target)
    for name, value in values.items():
        if name not in ceilings:
            raise LimitRefused(name, f"{target} has no {name} limit of its own.")
        if value is not None and value < 1:
            raise LimitRefused(name, _("A limit is at least 1 recipient."))
        if value is not None and ceilings[name] is not None and value > ceilings[name]:
            raise LimitRefused(
                name,
                _("At most %(n)d: a limit can only be lowered here, not raised.")
                % {"n": ceilings[name]},
            )
    if hourly_above_daily(values, (("per_hour", "per_day"),)):
        raise LimitRefused(
            "per_hour",
            _(
                "The hourly limit (%(hour)d) is above the daily one (%(day)d): it could "
                "never be reached. Lower it, or raise the daily limit."
            )
            % {"hour": values["per_hour"], "day": values["per_day"]},
        )
    if isinstance(target, Mailbox):
        model, scope, hosting = MailboxLimit, "mailbox", target.domain.hosting
    else:
        model, scope, hosting = DomainLimit, "domain", target.hosting
    with transaction.atomic():
        row, _created = model.objects.update_or_create(**{scope: target}, defaults=values)
        audit_record(
            action=f"{scope}.limits_changed",
            actor=user,
            hosting=hosting.pk,
            subject=str(target),
            data=values,
            client_ip=client_ip,
        )
        limits_publish(hosting=hosting)
    return row


def sending_limits_published(*, row: SendingLimits) -> None:
    """After staff saved a row: publish its hosting, or everything for the server default."""
    if row.hosting_id is None:
        # A Redis failure is logged, never the staff member's error: the beat job rebuilds.
        transaction.on_commit(lambda: redis_apply(limits_rebuild, "every sending limit"))
    else:
        limits_publish(hosting=row.hosting)


def mailbox_baselines_compute(*, now: datetime | None = None) -> int:
    """Recompute every mailbox's usual hourly volume from the recorded history (the
    percentile of its hourly recipients over the settings' days, idle hours included) and
    its first message in those days, then publish the volumes that hold; returns how many
    mailboxes sent in those days."""
    now = now or timezone.now()
    detection = HoldSettings.load()
    hours = detection.baseline_days * 24
    # Nearest rank, counted from the top: idle hours are the lowest and are not stored.
    rank = hours - math.ceil(detection.baseline_percentile * hours / 100) + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT mailbox_id, COALESCE((array_agg(n ORDER BY n DESC))[%s], 0), MIN(first)
            FROM (
                SELECT mailbox_id, date_trunc('hour', sent_at) AS hour, MIN(sent_at) AS first,
                       SUM(CASE WHEN jsonb_typeof(recipients) = 'array'
                                THEN GREATEST(jsonb_array_length(recipients), 1) ELSE 1 END) AS n
                FROM {OutboundMessage._meta.db_table}
                WHERE mailbox_id IS NOT NULL AND source = %s AND status = %s
                  AND sent_at > %s AND sent_at <= %s
                GROUP BY 1, 2
            ) AS hourly
            GROUP BY 1
            """,
            [rank, Source.MAILBOX, Status.SENT, now - timedelta(hours=hours), now],
        )
        rows = [
            MailboxBaseline(mailbox_id=pk, hourly=int(value), first_sent_at=first, computed_at=now)
            for pk, value, first in cursor.fetchall()
        ]
    with transaction.atomic():
        MailboxBaseline.objects.exclude(mailbox_id__in=[r.mailbox_id for r in rows]).delete()
        MailboxBaseline.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["mailbox"],
            update_fields=["hourly", "first_sent_at", "computed_at"],
            batch_size=5000,
        )
        transaction.on_commit(lambda: redis_apply(limits_rebuild, "volumes that hold"))
    return len(rows)


def hold_record(*, address: str, entry: dict[str, Any]) -> Hold | None:
    """Record a hold the policy service started (once: its token) and queue its e-mails;
    a hold that a later password change or lift already ended is cleared from Redis."""
    token, started = str(entry["t"]), datetime.fromtimestamp(float(entry["at"]), UTC)
    with transaction.atomic():
        # The row lock orders this against a password change of the same mailbox.
        mailbox = (
            Mailbox.objects.select_for_update()
            .select_related("domain")
            .filter(address=address.lower())
            .first()
        )
        if mailbox is None:
            hold_forget(address=address, token=token)
            return None
        known = Hold.objects.filter(token=token).first()
        if known is not None:
            if not known.is_standing():
                hold_withdraw(address=address, at=known.lifted_at.timestamp())
            return known
        if mailbox.password_changed_at is not None and mailbox.password_changed_at >= started:
            hold_withdraw(address=address, at=mailbox.password_changed_at.timestamp())
            return None
        standing = Hold.objects.standing().filter(mailbox=mailbox).first()
        if standing is not None:  # held already: the first hold is the one to tell of
            return standing
        hold = Hold.objects.create(
            mailbox=mailbox,
            hosting_id=mailbox.domain.hosting_id,
            token=token,
            reason=entry.get("why") if entry.get("why") in Hold.Reason.values else "volume",
            started_at=started,
            observed=max(int(entry.get("n") or 0), 0),
            threshold=max(int(entry.get("max") or 0), 0),
            networks=[str(n) for n in entry.get("nets") or [] if isinstance(n, str)][:50],
        )
        audit_record(
            action="mailbox.held",
            hosting=hold.hosting_id,
            subject=mailbox.address,
            data={"reason": hold.reason, "observed": hold.observed, "threshold": hold.threshold},
            at=started,
        )
        webhook_event_emit(
            event=Event.MAILBOX_HELD,
            key=f"mailbox.held:{hold.pk}",
            hosting_id=hold.hosting_id,
            at=started,
            data={
                "hold_id": hold.pk,
                "code": Hold.CODE,
                "mailbox": mailbox.address,
                "reason": hold.reason,
                "observed": hold.observed,
                "threshold": hold.threshold,
                "networks": hold.networks,
            },
        )
        transaction.on_commit(lambda: hold_notification_queue(hold.pk))
    return hold


def hold_lift(
    *,
    hold: Hold,
    reason: str,
    user: AbstractBaseUser | None,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> bool:
    """End a standing hold (password changed, or support); False if it had ended."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = (
            Hold.objects.standing()
            .filter(pk=hold.pk)
            .update(lifted_at=now, lifted_by=user, lift_reason=reason)
        )
        if changed:
            audit_record(
                action="mailbox.hold_lifted",
                actor=user,
                hosting=hold.hosting_id,
                subject=hold.mailbox.address,
                data={"reason": reason},
                client_ip=client_ip,
                at=now,
            )
            hold_withdraw(address=hold.mailbox.address, at=now.timestamp())
    return bool(changed)


def mailbox_password_change(
    *, mailbox: Mailbox, password: str, user: AbstractBaseUser | None, client_ip: str | None
) -> None:
    """Change a mailbox's password and lift its compromise hold at once (InvalidPassword)."""
    with transaction.atomic():
        mailbox_set_password(mailbox=mailbox, password=password, user=user, client_ip=client_ip)
        standing = Hold.objects.standing().filter(mailbox=mailbox).select_related("mailbox")
        lifted = [
            hold_lift(
                hold=hold,
                reason=Hold.LiftReason.PASSWORD,
                user=user,
                client_ip=client_ip,
                now=mailbox.password_changed_at,
            )
            for hold in standing
        ]
        if not any(lifted):
            # A hold Redis holds that is not recorded yet ends too: the password is new.
            hold_withdraw(address=mailbox.address, at=mailbox.password_changed_at.timestamp())


def holds_sync() -> int:
    """Bring PostgreSQL and Redis's holds in step: record the holds the policy service
    started (their task lost), clear the lifted ones, put back the standing ones Redis
    lost; returns how many holds stand."""
    stored = holds_stored()
    for address, entry in stored.items():
        try:
            hold_record(address=address, entry=entry)
        except (KeyError, TypeError, ValueError):
            log.warning("hold of %s unreadable in Redis, left alone: %r", address, entry)
    with transaction.atomic():
        # Locked: a lift waits, so a hold lifted meanwhile is never put back.
        standing = list(
            Hold.objects.standing().select_for_update(of=("self",)).select_related("mailbox")
        )
        for hold in standing:
            if hold.mailbox.address not in stored:
                hold_restore(hold=hold)
    for pk in holds_pending():  # e-mails whose task was lost (hold_notify sends once)
        hold_notification_queue(pk)
    return len(standing)


def webhook_limits_reached_emit(*, redis, now: float | None = None, since: float = 180) -> int:
    """Emit limit.reached for the counters the policy service or Rspamd refused in the last
    `since` seconds, once per counter and clock hour; returns the new deliveries."""
    if not any(e.wants(Event.LIMIT_REACHED) for e in Endpoint.objects.active()):
        return 0
    now = time.time() if now is None else now
    refused = redis.zrangebyscore(REFUSED_KEY, now - since, "+inf", withscores=True)
    parsed = [
        (*parts, at) for raw, at in refused if (parts := key_parts(raw.decode(errors="replace")))
    ]
    hostings = counter_hostings([(k, t) for k, t, _ in parsed])
    occurrences = [
        Occurrence(
            event=Event.LIMIT_REACHED,
            key=f"limit.reached:{kind}:{target}:{int(at // HOUR)}",
            hosting_id=hostings.get((kind, target)),
            at=datetime.fromtimestamp(at, UTC),
            data={"kind": kind, "target": target},
        )
        for kind, target, at in parsed
    ]
    with transaction.atomic():
        return webhook_events_emit(occurrences=occurrences)
