"""Compromise holds in the panel: the baseline from recorded history, recording what the
policy service held (once), the e-mails, and the password change that lifts it at once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from enforcement.counters import HOLDS_KEY, LIMITS_KEY, key
from hosting.models import AuditEvent
from limits.models import Hold, HoldSettings, MailboxBaseline
from limits.notifications import hold_notify
from limits.services import (
    hold_lift,
    hold_record,
    holds_sync,
    mailbox_baselines_compute,
    mailbox_password_change,
)
from limits.state import limits_rebuild
from tests.abuse.test_policyd import Running, ask
from tracking.models import OutboundMessage
from tracking.partitions import MESSAGES, partitions_cover

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC)  # the calendar's edge: February is behind


def sent(box, at: datetime, recipients: int = 1, **fields) -> OutboundMessage:
    partitions_cover(scheme=MESSAGES, moments=[at])  # as the services do before they insert
    return OutboundMessage.objects.create(
        identity=uuid.uuid4().hex,
        hosting=box.domain.hosting,
        domain=box.domain,
        mailbox=box,
        sender=box.address,
        source=fields.pop("source", "mailbox"),
        recipients=[f"r{n}@example.org" for n in range(recipients)],
        sent_at=at,
        score=1.0,
        **fields,
    )


def entry(at: datetime, why: str = "volume", n: int = 51, limit: int = 50) -> dict:
    return {
        "t": uuid.uuid4().hex[:12],
        "at": at.timestamp(),
        "why": why,
        "n": n,
        "max": limit,
        "nets": {},
    }


def test_the_baseline_is_the_95th_percentile_hour_of_30_days_idle_hours_included(customer):
    box = customer.box
    # 37 busy hours of 8 recipients (one message of 5 and one of 3) and more of 2: the 37th
    # busiest of 720 hours is the 95th percentile (nearest rank).
    for h in range(37):
        sent(box, NOW - timedelta(hours=h + 1), 5)
        sent(box, NOW - timedelta(hours=h + 1, minutes=-10), 3)
    for h in range(37, 100):
        sent(box, NOW - timedelta(hours=h + 1), 2)

    with time_machine.travel(NOW, tick=False):
        assert mailbox_baselines_compute() == 1

    assert MailboxBaseline.objects.get(mailbox=box).hourly == 8
    assert HoldSettings.load().volume_threshold(8) == 80


def test_36_busy_hours_are_under_the_95th_percentile_and_leave_the_floor(customer):
    for h in range(36):
        sent(customer.box, NOW - timedelta(hours=h + 1), 40)

    with time_machine.travel(NOW, tick=False):
        assert mailbox_baselines_compute() == 1

    baseline = MailboxBaseline.objects.get(mailbox=customer.box)
    assert baseline.hourly == 0 and HoldSettings.load().volume_threshold(0) == 50
    assert baseline.first_sent_at == NOW - timedelta(hours=36)


@pytest.mark.parametrize(("offset", "counted"), [(-1, False), (1, True)])
def test_the_baseline_window_is_30_days_to_the_second(customer, offset, counted):
    HoldSettings.objects.filter(pk=1).update(baseline_percentile=100)  # the busiest hour
    sent(customer.box, NOW - timedelta(days=30) + timedelta(seconds=offset), 9)

    with time_machine.travel(NOW, tick=False):
        mailbox_baselines_compute()

    assert MailboxBaseline.objects.filter(mailbox=customer.box, hourly=9).exists() is counted


def test_website_mail_and_refused_mail_are_not_the_mailboxs_volume(customer):
    HoldSettings.objects.filter(pk=1).update(baseline_percentile=100)
    sent(customer.box, NOW - timedelta(hours=1), 30, source="website")
    sent(customer.box, NOW - timedelta(hours=1), 30, status="blocked")

    with time_machine.travel(NOW, tick=False):
        assert mailbox_baselines_compute() == 0


def test_the_published_volume_is_the_factor_times_the_baseline_with_the_floor(
    customer, clean_redis
):
    old_enough = timezone.now() - timedelta(days=20)
    MailboxBaseline.objects.create(
        mailbox=customer.box, hourly=12, first_sent_at=old_enough, computed_at=NOW
    )
    MailboxBaseline.objects.create(
        mailbox=customer.other_box, hourly=0, first_sent_at=old_enough, computed_at=NOW
    )
    limits_rebuild()

    published = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{customer.box.address}"))
    other = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{customer.other_box.address}"))
    default = json.loads(clean_redis.hget(LIMITS_KEY, "default"))
    assert (published["hv"], other["hv"]) == (120, 50)
    assert (default["hv"], default["hn"], default["p4"], default["p6"]) == (0, 5, 24, 48)

    HoldSettings.objects.filter(pk=1).update(enabled=False)
    limits_rebuild()
    default = json.loads(clean_redis.hget(LIMITS_KEY, "default"))
    published = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{customer.box.address}"))
    assert (default["hv"], default["hn"], published["hv"]) == (0, 0, 0)


@pytest.mark.parametrize(("offset", "held_for_volume"), [(-1, False), (1, True)])
def test_a_mailbox_is_held_for_volume_only_after_14_days_of_sending_history(
    customer, clean_redis, offset, held_for_volume
):
    # Its first message 14 days ago, one second short of it or one second past it.
    first = NOW - timedelta(days=14) + timedelta(seconds=-offset)
    sent(customer.box, first, 1)
    with time_machine.travel(NOW, tick=False):
        mailbox_baselines_compute()
        limits_rebuild()

    published = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{customer.box.address}"))
    assert published["hv"] == (50 if held_for_volume else 0)


def test_a_baseline_computed_before_the_upgrade_still_holds_for_volume(customer, clean_redis):
    # Rows written before first_sent_at existed had a baseline: no new mailbox's.
    MailboxBaseline.objects.create(mailbox=customer.box, hourly=12, computed_at=NOW)

    limits_rebuild()

    published = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{customer.box.address}"))
    assert published["hv"] == 120


def test_a_new_mailbox_sending_up_to_its_hourly_limit_is_never_held_for_volume(
    customer, clean_redis
):
    # Created just now, nothing sent yet: bounded by its 200 recipients an hour, not held
    # at 51 (the floor that holds a mailbox with a sending history).
    box = customer.box
    limits_rebuild()
    running = Running()
    try:
        requests = [
            {
                "protocol_state": "RCPT",
                "sasl_username": box.address,
                "sender": box.address,
                "recipient": f"friend{n}@example.org",
                "client_address": "192.0.2.10",
                "instance": f"new{n}",
            }
            for n in range(201)
        ]
        answers = ask(running.port, requests)
    finally:
        running.stop()

    assert answers[:200] == ["DUNNO"] * 200
    assert answers[200].startswith("DEFER_IF_PERMIT 4.7.1 L-RATE") or "L-RATE" in answers[200]
    assert not clean_redis.hexists(HOLDS_KEY, box.address)


def test_a_hold_is_recorded_once_and_its_e_mails_go_once(customer, clean_redis, settings):
    settings.STAFF_ALERT_EMAILS = ["abuse-desk@provider.test"]
    started = datetime.now(UTC) - timedelta(seconds=5)
    held = entry(started, why="networks", n=6, limit=5)
    held["nets"] = ["203.0.113.0/24", "2001:db8:aa::/48"]

    first = hold_record(address=customer.box.address, entry=held)
    again = hold_record(address=customer.box.address, entry=held)

    assert first.pk == again.pk and Hold.objects.count() == 1
    assert (first.reason, first.observed, first.threshold) == ("networks", 6, 5)
    assert first.networks == ["203.0.113.0/24", "2001:db8:aa::/48"]
    assert AuditEvent.objects.filter(action="mailbox.held", subject=customer.box.address).exists()

    assert hold_notify(hold_id=first.pk) is True
    assert hold_notify(hold_id=first.pk) is False
    customer_mail, staff_mail = mail.outbox
    assert customer_mail.to == [customer.hosting.customer.contact_email]
    assert "L-HOLD" in customer_mail.subject and customer.box.address in customer_mail.subject
    password = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])
    assert password in customer_mail.body
    assert staff_mail.to == ["abuse-desk@provider.test"]
    assert "203.0.113.0/24" in staff_mail.body


def test_a_second_hold_of_a_held_mailbox_is_not_a_second_record(customer, clean_redis):
    now = datetime.now(UTC)
    first = hold_record(address=customer.box.address, entry=entry(now - timedelta(seconds=9)))
    second = hold_record(address=customer.box.address, entry=entry(now))

    assert second.pk == first.pk and Hold.objects.count() == 1


def test_a_hold_for_an_unknown_address_is_dropped_from_redis(clean_redis, db):
    held = entry(datetime.now(UTC))
    clean_redis.hset(HOLDS_KEY, "ghost@nowhere.example", json.dumps(held))

    assert hold_record(address="ghost@nowhere.example", entry=held) is None

    assert not clean_redis.hexists(HOLDS_KEY, "ghost@nowhere.example")


def test_changing_the_password_lifts_the_hold_in_postgresql_and_redis_at_once(
    customer, clean_redis, django_capture_on_commit_callbacks
):
    box = customer.box
    held = entry(datetime.now(UTC) - timedelta(minutes=3))
    clean_redis.hset(HOLDS_KEY, box.address, json.dumps(held))
    hold = hold_record(address=box.address, entry=held)

    with django_capture_on_commit_callbacks(execute=True):
        mailbox_password_change(
            mailbox=box, password="A new long passphrase 42", user=customer, client_ip=None
        )

    hold.refresh_from_db()
    assert hold.lift_reason == "password" and hold.lifted_by == customer
    assert not clean_redis.hexists(HOLDS_KEY, box.address)
    assert float(clean_redis.get(key("lifted", box.address))) == pytest.approx(
        box.password_changed_at.timestamp()
    )
    assert AuditEvent.objects.filter(action="mailbox.hold_lifted").count() == 1


def test_a_hold_not_recorded_yet_ends_with_the_password_and_is_never_recorded_after(
    customer, clean_redis, django_capture_on_commit_callbacks
):
    box = customer.box
    held = entry(datetime.now(UTC) - timedelta(seconds=30))
    clean_redis.hset(HOLDS_KEY, box.address, json.dumps(held))

    with django_capture_on_commit_callbacks(execute=True):
        mailbox_password_change(
            mailbox=box, password="A new long passphrase 42", user=customer, client_ip=None
        )
        late = hold_record(address=box.address, entry=held)

    assert late is None and not Hold.objects.exists()
    assert not clean_redis.hexists(HOLDS_KEY, box.address)


def test_a_hold_started_after_the_password_change_stays(
    customer, clean_redis, django_capture_on_commit_callbacks
):
    box = customer.box
    with django_capture_on_commit_callbacks(execute=True):
        mailbox_password_change(
            mailbox=box, password="A new long passphrase 42", user=customer, client_ip=None
        )
    box.refresh_from_db()
    later = entry(box.password_changed_at + timedelta(seconds=1))
    clean_redis.hset(HOLDS_KEY, box.address, json.dumps(later))

    assert hold_record(address=box.address, entry=later).is_standing()
    assert clean_redis.hexists(HOLDS_KEY, box.address)


def test_the_sync_job_records_lost_holds_and_puts_back_those_redis_lost(
    customer, clean_redis, django_capture_on_commit_callbacks
):
    lost_task = entry(datetime.now(UTC) - timedelta(minutes=1))
    clean_redis.hset(HOLDS_KEY, customer.box.address, json.dumps(lost_task))
    recorded = hold_record(
        address=customer.other_box.address, entry=entry(datetime.now(UTC) - timedelta(minutes=2))
    )  # ... and then Redis restarted empty for this one

    with django_capture_on_commit_callbacks(execute=True):
        assert holds_sync() == 2

    assert Hold.objects.standing().filter(token=lost_task["t"]).exists()
    restored = json.loads(clean_redis.hget(HOLDS_KEY, customer.other_box.address))
    assert restored["t"] == recorded.token


def test_the_sync_job_clears_a_hold_lifted_while_redis_was_unreachable(
    customer, clean_redis, django_capture_on_commit_callbacks
):
    held = entry(datetime.now(UTC) - timedelta(minutes=5))
    hold = hold_record(address=customer.box.address, entry=held)
    hold_lift(hold=hold, reason="staff", user=None)  # its Redis update lost (no commit hook)
    clean_redis.hset(HOLDS_KEY, customer.box.address, json.dumps(held))

    with django_capture_on_commit_callbacks(execute=True):
        holds_sync()

    assert not clean_redis.hexists(HOLDS_KEY, customer.box.address)
    assert not Hold.objects.standing().exists()


def test_the_policy_service_holds_the_login_from_a_sixth_network_then_refuses_it(
    customer, clean_redis
):
    HoldSettings.objects.filter(pk=1).update(max_networks=5)
    limits_rebuild()
    box = customer.box
    running = Running()
    try:

        def rcpt(n: int, address: str) -> dict[str, str]:
            return {
                "protocol_state": "RCPT",
                "sasl_username": box.address,
                "sender": box.address,
                "recipient": f"friend{n}@example.org",
                "client_address": address,
                "instance": f"i{n}",
            }

        # Two addresses of one /24 and of one /48 are one network each.
        addresses = [
            "192.0.2.10",
            "192.0.2.200",
            "198.51.100.7",
            "203.0.113.9",
            "2001:db8:1:1::1",
            "2001:db8:1:ffff::2",
            "100.64.1.1",
            "203.0.114.1",
        ]
        answers = ask(running.port, [rcpt(n, a) for n, a in enumerate(addresses)])
        after = ask(running.port, [rcpt(9, "192.0.2.10")])
        mail_from = ask(
            running.port,
            [{"sasl_username": box.address, "sender": box.address, "protocol_state": "MAIL"}],
        )
    finally:
        running.stop()

    assert answers[:7] == ["DUNNO"] * 7
    hold = f"REJECT 5.7.1 L-HOLD <{box.address}>: sending held, suspected stolen password, "
    assert answers[7] == hold + "change it in the panel"
    assert after == mail_from == [hold + "change it in the panel"]
    stored = json.loads(clean_redis.hget(HOLDS_KEY, box.address))
    assert (stored["why"], stored["n"], stored["max"]) == ("networks", 6, 5)
    assert "2001:db8:1::/48" in stored["nets"]
