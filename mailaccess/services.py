"""Writes for the mail server's access to the panel: Dovecot's role, the logins it
reports, the brute-force defence's numbers."""

from __future__ import annotations

import ipaddress
import json
import logging
from datetime import UTC, datetime

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from psycopg import sql

from enforcement.counters import LIMITS_KEY, Detection, Held, admit
from hosting.counters import count as counter_add
from hosting.models import Domain, Mailbox
from hosting.networks import client_network, networks_of
from mailaccess.models import AccessAttempt, LoginDefence, Protocol, Result
from mailaccess.partitions import ATTEMPTS, access_log_partitions_maintain
from mailaccess.passdb import ROLE, VIEW
from mailaccess.policy import (
    DEFENCE_KEY,
    PREFIX,
    QUEUE_KEY,
    REFUSED_REASON,
    Defence,
    Reported,
    client_ip,
    defence_forget,
    report,
)
from tracking.partitions import partitions_cover

log = logging.getLogger(__name__)


class RoleRefused(RuntimeError):
    """The database would not let the role be set up, and why."""


def dovecot_role_configure(*, password: str) -> None:
    """Let Dovecot's role log in with `password` and read the passdb view, nothing else."""
    if len(password) < 16:
        raise RoleRefused("DOVECOT_DB_PASSWORD must be at least 16 characters long")
    role, view = sql.Identifier(ROLE), sql.Identifier(VIEW)
    statements = [
        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            role, sql.Literal(password)
        ),
        # Whatever an earlier hand gave it goes: it reads the view, it writes nothing.
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(role),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(role),
        sql.SQL("GRANT SELECT ON {} TO {}").format(view, role),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE])
        if cursor.fetchone() is None:
            raise RoleRefused(
                f"the role {ROLE} does not exist: the migrations create it when they may "
                f"(CREATE ROLE {ROLE} NOLOGIN as a superuser, then run this again)"
            )
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))


# --- Logins Dovecot reports (auth policy) ------------------------------------------------

RECORD_TASK = "mailaccess.tasks.record_attempts"
ALERT_TASK = "mailaccess.tasks.alert_failed_logins"
RECORD_HOLD_TASK = "limits.tasks.record_hold"


def attempt_reported(*, redis, body: dict, now: float | None = None) -> Reported:
    """One attempt Dovecot reported: queued for the access log, a failure counted against
    its client and mailbox, a success counted for the mailbox's networks (L-HOLD)."""
    reported = report(redis, body=body, now=now)
    for field in report_metrics(reported):
        counter_add(field)
    for task, args in report_tasks(reported):
        _queue(task, args)
    if body.get("success") is True and "@" in reported.login:
        login_networks_check(redis=redis, login=reported.login, ip=client_ip(body), now=now)
    return reported


def report_metrics(reported: Reported) -> list[str]:
    """The metrics' counters one report adds to."""
    return ["login_refusals_started"] if reported.refused_now else []


def report_tasks(reported: Reported) -> list[tuple[str, list]]:
    """The tasks one report queues: the mailbox's alert, and recording when the queue was
    empty (a worker records it now; beat's job records the rest)."""
    tasks: list[tuple[str, list]] = []
    if reported.alert_now:
        tasks.append((ALERT_TASK, [reported.login]))
    if reported.queued == 1:
        tasks.append((RECORD_TASK, []))
    return tasks


def _queue(task: str, args: list) -> None:
    try:
        current_app.send_task(task, args=args)
    except Exception:  # the beat job records the queue and the sync job the holds anyway
        log.exception("mailaccess: %s not queued", task)


def networks_detection(*, published: bytes | str | None, login: str, ip: str) -> Detection | None:
    """What compromise detection counts for a successful login, given the published
    default limits (None: detection is off, or the login's network is not an address)."""
    if not published:
        return None
    default = json.loads(published)
    max_networks = int(default.get("hn") or 0)
    net = client_network(ip.strip(), int(default.get("p4", 24)), int(default.get("p6", 64)))
    if max_networks <= 0 or not net:
        return None
    return Detection(mailbox=login, volume=0, network=net, max_networks=max_networks)


def login_hold_report(*, login: str, found: Held) -> None:
    """A hold that a login's network started: logged and recorded by the worker."""
    if found.new:
        log.warning("mailaccess: %s held (%s networks in an hour)", login, found.observed)
        _queue(RECORD_HOLD_TASK, [login, found.entry])


def login_networks_check(*, redis, login: str, ip: str, now: float | None = None) -> Held | None:
    """Count a successful login's network for the mailbox, as the policy service counts
    SMTP's: more than the published number in an hour holds it (L-HOLD)."""
    published = redis.hget(LIMITS_KEY, "default")
    detection = networks_detection(published=published, login=login, ip=ip)
    if detection is None:
        return None
    found = admit(redis, [], detection=detection, now=now)
    if isinstance(found, Held):
        login_hold_report(login=login, found=found)
        return found
    return None


def _classify(item: dict, mailbox: Mailbox | None) -> tuple[str, str]:
    if item.get("success") is True:
        return Result.SUCCESS, ""
    if item.get("policy_reject") is True:
        return Result.REFUSED, REFUSED_REASON
    reason = _clean(item.get("reason"), 200)
    if reason:
        return Result.REFUSED, reason
    return (Result.WRONG_PASSWORD if mailbox else Result.UNKNOWN_MAILBOX), ""


def _clean(value: object, length: int) -> str:
    return str(value or "").replace("\x00", "")[:length]


def _parsed(raw: bytes) -> dict | None:
    try:
        item = json.loads(raw)
        float(item["at"])
        str(item["uid"])
    except (ValueError, TypeError, KeyError):
        return None
    return item if isinstance(item, dict) else None


def _ip(value: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def attempts_record(*, redis, batch: int = 1000) -> int:
    """Store the queued attempts in the access log, one batch; an item that cannot be read
    is parked (logged and dropped), never retried; returns how many were taken."""
    if not redis.set(PREFIX + "recording", 1, nx=True, ex=120):
        return 0  # another worker is at it
    try:
        raw = redis.lrange(QUEUE_KEY, 0, batch - 1)
        if not raw:
            return 0
        items = []
        for value in raw:
            item = _parsed(value)
            if item is None:
                counter_add("login_reports_parked")
                log.error("mailaccess: unreadable login report parked: %r", value[:300])
            else:
                items.append(item)
        _store(items)
        redis.ltrim(QUEUE_KEY, len(raw), -1)
        return len(raw)
    finally:
        redis.delete(PREFIX + "recording")


def _store(items: list[dict]) -> None:
    logins = {_clean(i.get("login"), 254) for i in items}
    boxes = {
        m.address: m for m in Mailbox.objects.filter(address__in=logins).select_related("domain")
    }
    names = {login.rpartition("@")[2] for login in logins if login not in boxes}
    hostings = dict(Domain.objects.filter(name__in=names).values_list("name", "hosting_id"))
    rows, last_login = [], {}
    for item in items:
        login = _clean(item.get("login"), 254)
        box = boxes.get(login)
        at = datetime.fromtimestamp(float(item["at"]), UTC)
        result, reason = _classify(item, box)
        protocol = _clean(item.get("protocol"), 8)
        rows.append(
            AccessAttempt(
                uid=_clean(item["uid"], 32),
                at=at,
                login=login,
                mailbox=box,
                hosting_id=box.domain.hosting_id if box else hostings.get(login.rpartition("@")[2]),
                protocol=protocol if protocol in Protocol.values else Protocol.OTHER,
                client_ip=_ip(item.get("ip")),
                result=result,
                reason=reason,
            )
        )
        if result == Result.SUCCESS and box is not None:
            last_login[box.pk] = max(at, last_login.get(box.pk, at))
    partitions_cover(scheme=ATTEMPTS, moments={r.at for r in rows})
    with transaction.atomic():
        AccessAttempt.objects.bulk_create(rows, ignore_conflicts=True)
        if last_login and connection.vendor != "postgresql":  # the demo's SQLite
            for pk, at in last_login.items():
                Mailbox.objects.filter(pk=pk).filter(
                    Q(last_login_at__isnull=True) | Q(last_login_at__lt=at)
                ).update(last_login_at=at, inactivity_warned_at=None)
        elif last_login:
            # One statement for the batch; only ever forward; any login ends an
            # inactivity warning.
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    UPDATE lwsmail_mailbox m
                       SET last_login_at = v.at, inactivity_warned_at = NULL
                      FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at)
                     WHERE m.id = v.id AND (m.last_login_at IS NULL OR m.last_login_at < v.at)
                    """,
                    [list(last_login), list(last_login.values())],
                )
    counter_add("login_attempts_recorded", len(rows))


def login_defence_publish(*, redis) -> Defence:
    """Publish LoginDefence's row where the auth policy reads it."""
    row, _ = LoginDefence.objects.get_or_create(pk=1)
    published = Defence(
        delay_after=row.delay_after,
        delay_window=row.delay_window_minutes * 60,
        delay_seconds=row.delay_seconds,
        refuse_after=row.refuse_after,
        refuse_window=row.refuse_window_minutes * 60,
        refuse_seconds=row.refuse_minutes * 60,
        alert_after=row.alert_after,
        exempt=networks_of(row.exempt_networks, "LoginDefence.exempt_networks"),
    )
    redis.set(DEFENCE_KEY, published.to_json())
    defence_forget()
    return published


def access_log_maintain(*, now: datetime) -> tuple[int, list[str]]:
    """The coming weeks' access log partitions created, those past ACCESS_LOG_DAYS dropped."""
    return access_log_partitions_maintain(now=now, keep_days=settings.ACCESS_LOG_DAYS)
