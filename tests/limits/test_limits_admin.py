"""Staff set the server default and a hosting's limits, and see who is at a limit now."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from enforcement.counters import LIMITS_KEY, Counter, admit
from hosting.models import AuditEvent
from limits.models import SendingLimits
from tests.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="support", is_staff=True, is_superuser=True))
    return client


def form(**values) -> dict[str, str]:
    data = {name: "" for name in SendingLimits.FIELDS}
    data.update({k: str(v) for k, v in values.items()})
    return data


def test_staff_raise_a_hostings_mailbox_limit_and_it_is_published_and_audited(
    staff_client, clean_redis, django_capture_on_commit_callbacks
):
    box = MailboxFactory()
    hosting = box.domain.hosting

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:limits_sendinglimits_add"),
            {"hosting": hosting.pk, **form(mailbox_per_hour=800)},
        )

    assert response.status_code == 302
    published = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{box.address}"))
    assert published["m"] == [800, 1000] and published["dl"] == [500, 3000]
    assert AuditEvent.objects.filter(action="admin.sendinglimits.added", hosting=hosting).exists()


def test_a_limit_of_zero_is_refused_with_a_reason_not_a_database_error(staff_client):
    default = SendingLimits.objects.get(hosting=None)

    response = staff_client.post(
        reverse("admin:limits_sendinglimits_change", args=[default.pk]),
        form(mailbox_per_hour=0, mailbox_per_day=1000),
    )

    assert response.status_code == 200
    assert "greater than or equal to 1" in response.content.decode()
    default.refresh_from_db()
    assert default.mailbox_per_hour == 200


@pytest.mark.parametrize("scope", ["mailbox", "domain", "hosting"])
def test_an_hourly_limit_above_the_daily_one_is_refused_with_the_reason(staff_client, scope):
    default = SendingLimits.objects.get(hosting=None)
    values = {
        f"{s}_per_{p}": getattr(default, f"{s}_per_{p}")
        for s in ("mailbox", "domain", "hosting")
        for p in ("hour", "day")
    }
    values |= {f"{scope}_per_hour": 10, f"{scope}_per_day": 5}

    response = staff_client.post(
        reverse("admin:limits_sendinglimits_change", args=[default.pk]), form(**values)
    )

    assert response.status_code == 200
    assert "The hourly limit (10) is above the daily one (5)" in response.content.decode()
    default.refresh_from_db()
    assert getattr(default, f"{scope}_per_hour") != 10


def test_an_hourly_limit_equal_to_the_daily_one_is_saved(staff_client):
    box = MailboxFactory()

    response = staff_client.post(
        reverse("admin:limits_sendinglimits_add"),
        {"hosting": box.domain.hosting.pk, **form(mailbox_per_hour=5, mailbox_per_day=5)},
    )

    assert response.status_code == 302


def test_the_server_default_cannot_be_deleted(staff_client):
    default = SendingLimits.objects.get(hosting=None)

    response = staff_client.post(
        reverse("admin:limits_sendinglimits_delete", args=[default.pk]), {"post": "yes"}
    )

    assert response.status_code == 403 and SendingLimits.objects.filter(hosting=None).exists()


def test_staff_see_the_senders_refused_for_a_limit_in_the_last_hour(staff_client, clean_redis):
    counters = [Counter("mailbox", "shop@bakery.example", 1, 0)]
    admit(clean_redis, counters)
    assert admit(clean_redis, counters) is not None

    page = staff_client.get(reverse("admin:limits_at_limit")).content.decode()

    assert "shop@bakery.example" in page and "mailbox" in page


def test_customers_cannot_see_who_is_at_a_limit(client):
    client.force_login(UserFactory(username="marie"))

    response = client.get(reverse("admin:limits_at_limit"))

    assert response.status_code == 302 and "/admin/login/" in response.url
