"""The access log page under hostile query strings, and a customer's reach: no 5xx, a
clear 400, never another customer's attempts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from mailaccess.models import AccessAttempt
from mailaccess.partitions import ATTEMPTS
from tests.factories import MailboxFactory
from tests.panel.test_hostile_pages import CURSORS, DATES, OTHERS, TEXTS, encoded
from tracking.partitions import partitions_cover

pytestmark = pytest.mark.django_db
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def attempt(mailbox, n: int, **fields) -> AccessAttempt:
    partitions_cover(scheme=ATTEMPTS, moments=[AT])
    return AccessAttempt.objects.create(
        uid=f"u{n}",
        at=AT - timedelta(seconds=n % 60),
        login=mailbox.address,
        mailbox=mailbox,
        hosting_id=mailbox.domain.hosting_id,
        protocol="imap",
        client_ip="198.51.100.7",
        result="success",
        **fields,
    )


def test_no_access_log_query_string_gets_a_5xx(logged_in, customer):
    foreign = MailboxFactory()
    for n in range(60):
        attempt(customer.box, n)
    attempt(foreign, 99, reason="their-secret-reason")
    rng = random.Random(26)
    fields = {
        "since": DATES + OTHERS,
        "until": DATES + OTHERS,
        "after": CURSORS,
        "mailbox": [*TEXTS, foreign.address, customer.box.address.upper()],
        "result": ["success", "refused", "x", "\x00", *OTHERS],
        "protocol": ["imap", "pop3", "smtp", "x", "\x00", *OTHERS],
    }
    corpus = [{name: value} for name, values in fields.items() for value in values]
    for _ in range(120):
        names = rng.sample(sorted(fields), rng.randint(2, 5))
        corpus.append({name: rng.choice(fields[name]) for name in names})
    url = reverse("access-log", args=[customer.hosting.pk])
    statuses: dict[int, int] = {}
    for query in corpus:
        response = logged_in.get(f"{url}?{encoded(query)}")
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400), query
        if response.status_code == 400:
            assert b'role="alert"' in response.content, query
        assert b"their-secret-reason" not in response.content
    assert statuses[200] > 20 and statuses[400] > 20


def test_pages_follow_one_another_newest_first_without_gap_or_repeat(logged_in, customer):
    for n in range(120):
        attempt(customer.box, n)
    url = reverse("access-log", args=[customer.hosting.pk])
    seen, query = [], {}
    while True:
        page = logged_in.get(url, query)
        rows = page.context["page"]
        seen += [a.pk for a in rows]
        if not page.context["next_cursor"]:
            break
        query = {"after": page.context["next_cursor"]}
    assert len(seen) == len(set(seen)) == 120


def test_another_customers_access_log_is_a_404(logged_in, customer):
    foreign = MailboxFactory()
    response = logged_in.get(reverse("access-log", args=[foreign.domain.hosting_id]))
    assert response.status_code == 404
