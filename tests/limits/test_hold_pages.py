"""Every page that shows a held address says so with L-HOLD; the customer's password
change lifts it; staff see, lift and tune holds in the admin."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from enforcement.counters import HOLDS_KEY, LIMITS_KEY
from hosting.models import AuditEvent
from limits.models import Hold, HoldSettings, MailboxBaseline
from limits.services import hold_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def held(address: str, redis, *, record: bool) -> dict:
    entry = {
        "t": uuid.uuid4().hex[:12],
        "at": (datetime.now(UTC) - timedelta(minutes=4)).timestamp(),
        "why": "volume",
        "n": 51,
        "max": 50,
        "nets": {},
    }
    redis.hset(HOLDS_KEY, address, json.dumps(entry))
    if record:
        hold_record(address=address, entry=entry)
    return entry


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "not-recorded-yet"])
def test_the_addresses_and_mail_abuse_pages_show_the_hold_the_server_enforces(
    logged_in, customer, clean_redis, recorded
):
    held(customer.box.address, clean_redis, record=recorded)
    hosting = customer.hosting

    addresses = logged_in.get(reverse("addresses", args=[hosting.pk])).content.decode()
    abuse = logged_in.get(reverse("mail-abuse", args=[hosting.pk])).content.decode()

    row = addresses[addresses.index(customer.box.address) :]
    row = row[: row.index("</tr>")]
    assert "L-HOLD" in row and "Sending held" in row
    other = addresses[addresses.index(customer.other_box.address) :]
    assert "L-HOLD" not in other[: other.index("</tr>")]
    section = abuse[abuse.index('id="holds"') :]
    assert "L-HOLD" in section and customer.box.address in section
    assert "51 recipients in one hour (more than 50)" in section
    password = reverse("mailbox-password", args=[hosting.pk, customer.box.pk])
    assert f'href="{password}"' in section
    assert "Outgoing mail works normally." not in abuse


def test_the_password_change_page_lifts_the_hold_and_the_pages_clear(
    logged_in, customer, clean_redis, django_capture_on_commit_callbacks
):
    held(customer.box.address, clean_redis, record=True)
    url = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])
    new = "Ünë phrase très longue 2026"

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(url, {"password1": new, "password2": new})

    assert response.status_code == 302
    assert not clean_redis.hexists(HOLDS_KEY, customer.box.address)
    assert Hold.objects.get().lift_reason == "password"
    abuse = logged_in.get(reverse("mail-abuse", args=[customer.hosting.pk])).content.decode()
    assert "L-HOLD" not in abuse and "Outgoing mail works normally." in abuse
    history = logged_in.get(reverse("history", args=[customer.hosting.pk])).content.decode()
    assert "Sending held: suspected stolen password" in history and "Hold lifted" in history


def test_a_refused_password_leaves_the_hold(logged_in, customer, clean_redis):
    held(customer.box.address, clean_redis, record=True)
    url = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])

    response = logged_in.post(url, {"password1": "short", "password2": "short"})

    assert response.status_code == 400
    assert clean_redis.hexists(HOLDS_KEY, customer.box.address)
    assert Hold.objects.standing().count() == 1


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="support", is_staff=True, is_superuser=True))
    return client


def test_staff_lift_a_hold_from_the_admin(
    staff_client, customer, clean_redis, django_capture_on_commit_callbacks
):
    held(customer.box.address, clean_redis, record=True)
    hold = Hold.objects.get()
    assert staff_client.get(reverse("admin:limits_hold_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:limits_hold_change", args=[hold.pk])).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:limits_hold_changelist"),
            {"action": "lift_selected", "_selected_action": [hold.pk]},
        )

    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.lift_reason == "staff" and hold.lifted_by.username == "support"
    assert not clean_redis.hexists(HOLDS_KEY, customer.box.address)
    assert AuditEvent.objects.filter(action="mailbox.hold_lifted", actor=hold.lifted_by).exists()


def test_staff_change_a_threshold_and_the_policy_service_gets_it(
    staff_client, customer, clean_redis, django_capture_on_commit_callbacks
):
    settings_row = HoldSettings.load()
    MailboxBaseline.objects.create(
        mailbox=customer.box,
        hourly=1,
        first_sent_at=timezone.now() - timedelta(days=20),
        computed_at=timezone.now(),
    )
    data = {
        "enabled": "on",
        "volume_factor": 10,
        "volume_floor": 120,
        "history_days": 14,
        "baseline_days": 30,
        "baseline_percentile": 95,
        "max_networks": 3,
        "ipv4_prefix": 24,
        "ipv6_prefix": 48,
    }
    url = reverse("admin:limits_holdsettings_change", args=[settings_row.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, data)

    assert response.status_code == 302
    default = json.loads(clean_redis.hget(LIMITS_KEY, "default"))
    box = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{customer.box.address}"))
    assert (default["hn"], box["hv"]) == (3, 120)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("volume_floor", "0"),
        ("ipv4_prefix", "33"),
        ("baseline_percentile", "101"),
        ("max_networks", "-1"),
        ("volume_factor", "abc"),
        ("history_days", "31"),
    ],
)
def test_staff_get_a_reason_for_a_threshold_out_of_range(staff_client, name, value):
    data = {
        "enabled": "on",
        "volume_factor": 10,
        "volume_floor": 50,
        "history_days": 14,
        "baseline_days": 30,
        "baseline_percentile": 95,
        "max_networks": 5,
        "ipv4_prefix": 24,
        "ipv6_prefix": 48,
        name: value,
    }
    url = reverse("admin:limits_holdsettings_change", args=[HoldSettings.load().pk])

    response = staff_client.post(url, data)

    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert HoldSettings.load().volume_floor == 50
