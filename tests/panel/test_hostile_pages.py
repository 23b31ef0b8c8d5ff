"""Customer pages under hostile query strings, forms and messages: a 4xx, never a 5xx."""

from __future__ import annotations

import base64
import random
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from hosting.passwords import dovecot_verify
from ingest.recording import message_record
from tests.factories import MailboxFactory, message_data

pytestmark = pytest.mark.django_db
SEED = 20261129


def encoded(data: dict[str, str]) -> str:
    """Form-encoded as a hostile client may send it: lone surrogates as their raw bytes."""
    return urlencode(data, encoding="utf-8", errors="surrogatepass")


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


DATES = ["0001-01-01", "9999-12-31", "9999-12-30", "2000-01-01", "1999-12-31", "2026-02-30"]
DATES += ["-1", "0", "99999-01-01", "2026-11-29T10:00", "\x00", "2026-11-29\x00", "é", ""]
CURSORS = [
    cursor("2026-11-29T10:00:00+23:59|5"),
    cursor("2026-11-29T10:00:00-23:59|5"),
    cursor("0001-01-01T00:00:00+23:59|5"),
    cursor("9999-12-31T23:59:59-23:59|5"),
    cursor("2026-11-29T10:00:00+00:00|-5"),
    cursor("2026-11-29T10:00:00+00:00|99999999999999999999999"),
    cursor("2026-11-29T10:00:00|5"),
    cursor("2026-11-29T10:00:00+00:00|"),
    cursor("|"),
    cursor("\x00|\x00"),
    "!!!",
    "a",
    "=" * 40,
    "x" * 5000,
    "\ud800",
    base64.urlsafe_b64encode(b"\xff\xfe|1").decode(),
]
TEXTS = ["", "\x00", "a\x00b", "\ud800", "%", "_", "x" * 300, "' OR 1=1 --", "<script>"]
OTHERS = ["-1", "0", "abc", "99999999999999999999999", "1.5", "\x00"]


def queries(own_mailbox: int, foreign_mailbox: int) -> list[dict[str, str]]:
    rng = random.Random(SEED)
    fields = {
        "since": DATES,
        "until": DATES,
        "after": CURSORS,
        "q": TEXTS,
        "mailbox": [*OTHERS, str(foreign_mailbox), str(own_mailbox)],
        "source": ["mailbox", "website", "x", "\x00", *OTHERS],
        "status": ["sent", "blocked", "x", "\x00", *OTHERS],
        "spam": ["on", "off", "1", "\x00", "x" * 1000],
    }
    result = [{name: value} for name, values in fields.items() for value in values]
    for _ in range(150):
        names = rng.sample(sorted(fields), rng.randint(2, 5))
        result.append({name: rng.choice(fields[name]) for name in names})
    return result


def test_no_tracking_query_string_gets_a_5xx(logged_in, customer):
    foreign = MailboxFactory()
    for n in range(3):
        message_record(data=message_data(sender=customer.box.address, queue_id=f"Q{n}"))
    url = reverse("tracking", args=[customer.hosting.pk])
    corpus = queries(customer.box.pk, foreign.pk)
    assert len(corpus) >= 200

    statuses = {}
    for query in corpus:
        response = logged_in.get(f"{url}?{encoded(query)}")
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400), query
        if response.status_code == 400:
            assert b'role="alert"' in response.content, query  # it says what is wrong
        assert foreign.address.encode() not in response.content

    assert statuses[200] > 20 and statuses[400] > 50


@pytest.mark.parametrize(
    "after",
    [cursor("2026-11-29T10:00:00+23:59|5"), cursor("2026-11-29T10:00:00-23:59|5")],
)
def test_a_cursor_with_an_offset_postgresql_refuses_still_pages_in_utc(logged_in, customer, after):
    response = logged_in.get(reverse("tracking", args=[customer.hosting.pk]), {"after": after})

    assert response.status_code == 200


def test_a_bad_cursor_gets_the_page_with_an_explanation(logged_in, customer):
    response = logged_in.get(reverse("tracking", args=[customer.hosting.pk]), {"after": "!!!"})

    assert response.status_code == 400
    assert "This page link is not valid" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


def _nested(depth: int) -> bytes:
    head = "From: a@site.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    parts = [
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    ]
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    body = "Content-Type: text/html\r\n\r\n<p>bottom</p>\r\n"
    return (head + "".join(parts) + body + tail).encode()


def test_a_message_nested_1200_multiparts_deep_shows_its_headers_and_says_why(logged_in, customer):
    data = message_data(sender=customer.box.address, sent_at=timezone.now())
    message = message_record(data=replace(data, raw=_nested(1200))).message
    args = [customer.hosting.pk, message.pk]

    page = logged_in.get(reverse("message", args=args))
    html = logged_in.get(reverse("message-html", args=args))

    assert page.status_code == 200
    assert 'id="too-deep"' in page.content.decode() and "deep" in page.content.decode()
    assert html.status_code == 404


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("A" * 72, True),
        ("é" * 36, True),  # 72 bytes
        ("A" * 73, False),
        ("é" * 37, False),
        ("Long-Secret\x00x", False),
        ("A" * 5000, False),
    ],
)
def test_a_mailbox_password_is_at_most_what_the_mail_server_checks(
    logged_in, customer, password, ok
):
    url = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])

    response = logged_in.post(url, {"password1": password, "password2": password})

    assert response.status_code == (302 if ok else 400)
    customer.box.refresh_from_db()
    assert dovecot_verify(password, customer.box.password_hash) is ok


FORM = "application/x-www-form-urlencoded"
FORM_VALUES = ["", "\x00", "\ud800", "x" * 10000, "on", "é", "0", "-1"]


def test_no_form_post_gets_a_5xx(logged_in, customer):
    hosting = customer.hosting.pk
    urls = [
        reverse("unblock", args=[hosting]),
        reverse("mailbox-password", args=[hosting, customer.box.pk]),
    ]
    rng = random.Random(SEED)
    names = ["confirm", "password1", "password2", "csrfmiddlewaretoken", "x"]
    posts = 0
    for url in urls:
        for _ in range(60):
            data = {n: rng.choice(FORM_VALUES) for n in rng.sample(names, rng.randint(1, 4))}
            response = logged_in.post(url, encoded(data), content_type=FORM)
            assert response.status_code < 500, data
            posts += 1
    for value in FORM_VALUES:
        response = logged_in.post(
            "/accounts/login/",
            encoded({"username": value, "password": value}),
            content_type=FORM,
        )
        assert response.status_code < 500, value
        posts += 1
    assert posts >= 120
