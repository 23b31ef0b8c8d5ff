"""Customers see their limits and use, and lower them; never above what they inherit."""

from __future__ import annotations

import json
import random

import pytest
from django.urls import reverse

from enforcement.counters import LIMITS_KEY, Counter, admit
from hosting.models import AuditEvent
from limits.models import DomainLimit, MailboxLimit, SendingLimits
from tests.factories import MailboxFactory
from tests.panel.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, customer, clean_redis):
    assert (
        client.post("/accounts/login/", {"username": "marie", "password": PASSWORD}).status_code
        == 302
    )
    client.user = customer
    return client


def page_url(customer) -> str:
    return reverse("sending-limits", args=[customer.hosting.pk])


def own_url(customer, kind: str, pk: int) -> str:
    return reverse("own-limit", args=[customer.hosting.pk, kind, pk])


def test_the_page_shows_each_limit_in_force_and_this_hours_use(logged_in, customer, clean_redis):
    for _ in range(170):
        admit(clean_redis, [Counter("mailbox", customer.box.address, 200, 1000)])

    page = logged_in.get(page_url(customer)).content.decode()

    assert "170 of 200" in page and "170 of 1000" in page
    assert "close to the limit" in page
    assert "boulangerie.example" in page and "Whole hosting" in page


def test_a_customer_lowers_a_mailboxs_limit_and_the_policy_service_reads_it(
    logged_in, customer, clean_redis, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            own_url(customer, "mailbox", customer.box.pk),
            {"per_hour": "20", "per_day": "", "per_message": "5"},
        )

    assert response.status_code == 302 and response.url == page_url(customer)
    own = MailboxLimit.objects.get(mailbox=customer.box)
    assert (own.per_hour, own.per_day, own.per_message) == (20, None, 5)
    published = json.loads(clean_redis.hget(LIMITS_KEY, f"mailbox:{customer.box.address}"))
    assert published["m"] == [20, 1000] and published["pm"] == 5
    event = AuditEvent.objects.get(action="mailbox.limits_changed")
    assert (event.subject, event.actor) == (customer.box.address, customer)


@pytest.mark.parametrize(
    ("kind", "data", "says"),
    [
        ("mailbox", {"per_hour": "201"}, "At most 200"),
        ("mailbox", {"per_message": "101"}, "At most 100"),
        ("domain", {"per_day": "3001"}, "At most 3000"),
        ("domain", {"per_hour": "0"}, "greater than or equal to 1"),
        ("domain", {"per_hour": "-5"}, "greater than or equal to 1"),
        ("mailbox", {"per_day": "1e9"}, "Enter a whole number"),
        ("mailbox", {"per_day": "99999999999999999999"}, "less than or equal to"),
        ("mailbox", {"per_hour": "10", "per_day": "5"}, "above the daily one"),
        ("domain", {"per_hour": "10", "per_day": "5"}, "above the daily one"),
    ],
)
def test_a_limit_above_the_inherited_or_not_a_count_is_refused_with_the_reason(
    logged_in, customer, kind, data, says
):
    pk = customer.box.pk if kind == "mailbox" else customer.box.domain.pk

    response = logged_in.post(own_url(customer, kind, pk), data)

    assert response.status_code == 400 and says in response.content.decode()
    assert not MailboxLimit.objects.exists() and not DomainLimit.objects.exists()


def test_staff_raising_a_hostings_limit_lets_its_customer_go_up_to_it(logged_in, customer):
    SendingLimits.objects.create(hosting=customer.hosting, mailbox_per_hour=500)

    response = logged_in.post(own_url(customer, "mailbox", customer.box.pk), {"per_hour": "400"})

    assert response.status_code == 302
    assert MailboxLimit.objects.get(mailbox=customer.box).per_hour == 400


def test_another_customers_mailbox_or_an_unknown_kind_is_a_404(logged_in, customer):
    stranger = MailboxFactory()

    assert (
        logged_in.post(own_url(customer, "mailbox", stranger.pk), {"per_hour": "1"}).status_code
        == 404
    )
    assert logged_in.post(own_url(customer, "domain", stranger.domain.pk), {}).status_code == 404
    assert logged_in.post(own_url(customer, "hosting", customer.hosting.pk), {}).status_code == 404
    assert not MailboxLimit.objects.exists()


def test_a_generated_corpus_of_hostile_posts_never_gets_a_5xx_or_a_limit_above_the_inherited(
    logged_in, customer
):
    rng = random.Random(1129)
    junk = [
        "",
        " ",
        "0",
        "-1",
        "1",
        "199",
        "200",
        "201",
        "１２",
        "1.5",
        "nan",
        "inf",
        "1e3",
        "\x00",
        "9" * 40,
        "<script>",
        "' OR 1=1",
        "٣",
        "20 ",
        "+7",
    ]
    for _ in range(120):
        kind = rng.choice(["mailbox", "domain"])
        pk = customer.box.pk if kind == "mailbox" else customer.box.domain.pk
        data = {
            f: rng.choice(junk)
            for f in ("per_hour", "per_day", "per_message")
            if rng.random() < 0.8
        }
        response = logged_in.post(own_url(customer, kind, pk), data)
        assert response.status_code in (302, 400), (data, response.status_code)
    for own in MailboxLimit.objects.all():
        assert (
            (own.per_hour or 0) <= 200
            and (own.per_day or 0) <= 1000
            and (own.per_message or 0) <= 100
        )
        assert all(v is None or v >= 1 for v in (own.per_hour, own.per_day, own.per_message))
    for own in DomainLimit.objects.all():
        assert (own.per_hour or 0) <= 500 and (own.per_day or 0) <= 3000
