"""A generated corpus of malformed push and scan requests: never a 5xx, nothing stored from a
refused request, every accepted one recorded exactly once."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pytest

from ingest.events import ingest_event_process
from tests.tracking.push import PASSWORD, push_headers, raw_message
from tracking.models import IngestEvent, OutboundMessage

pytestmark = pytest.mark.django_db
SEED = 20261129


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes
    what: str


def latin1(raw: bytes) -> str:
    """Bytes as a WSGI server hands a header over."""
    return raw.decode("latin-1")


# Values any header may be given, in the shapes that broke or could break a parser.
TEXTS = [
    "",
    " ",
    "unknown",
    "\x00",
    "a\x00b@example.org",
    "\ud800@example.org",
    latin1(b"\xff\xfe@example.org"),
    latin1("é@exämple.org".encode()),
    "x" * 5000,
    "<>",
    "@",
    "a@b@c",
    "a b@example.org",
    "line\r\nbreak@example.org",
    "\t",
    "0",
    "-1",
    "1e400",
    "NaN",
    "Infinity",
    "[]",
    "{}",
    "null",
    "true",
]
JSON_VALUES = [
    '["a@example.org", 1, null, {"x": 1}]',
    '["a\\u0000b@example.org"]',
    '["\\ud800@example.org"]',
    "[" * 3000 + "]" * 3000,
    "[" * 40 + "]" * 40,
    '[{"name": "S", "score": "high"}]',
    '[{"name": "S", "score": {"a": 1}}]',
    '[{"name": "S", "score": [1]}]',
    '[{"name": "S", "score": true}]',
    '[{"name": "S", "score": NaN}]',
    '[{"name": "S", "score": Infinity}]',
    '[{"name": "S", "score": -Infinity}]',
    '[{"name": "S", "score": 1e400}]',
    '[{"name": "S\\u0000", "score": 1}]',
    '[{"name": "\\udc00", "score": 1, "description": "\\ud800", "options": ["\\u0000", 5]}]',
    '[{"name": "S", "score": 1, "options": "not a list"}]',
    '[{"name": 5}]',
    '[{"noname": 1}]',
    "[1, 2]",
    '{"a": 1}',
    "[not json",
    '"a string"',
    "[]",
    latin1('[{"name": "S", "score": 1, "options": ["déjà vu"]}]'.encode()),
    latin1(b'[{"name": "S", "score": 1, "options": ["\xff"]}]'),
]
PUSH_FIELDS = [
    "X-Rspamd-from",
    "X-Rspamd-user",
    "X-Rspamd-qid",
    "X-Rspamd-rcpt",
    "X-Rspamd-score",
    "X-Rspamd-action",
    "X-Rspamd-symbols",
    "X-Rspamd-subject",
    "X-Rspamd-ip",
    "X-Rspamd-rspamd_server",
]
SCAN_FIELDS = ["From", "Rcpt", "User", "IP", "Queue-Id", "Sent-At"]
BODIES = [
    b"",
    b"\x00" * 100,
    b"Subject: \x00\r\n\r\nx",
    b"Subject: =?utf-8?q?a=00b?=\r\nMessage-ID: <\x00>\r\n\r\n",
    "Subject: Réduction già\r\n\r\ncorps".encode(),
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 500,
    bytes(range(256)) * 4,
]


def corpus(address: str) -> list[Request]:
    rng = random.Random(SEED)
    requests: list[Request] = []
    qid = iter(range(10**6))

    def push(headers: dict[str, str], body: bytes, what: str) -> None:
        requests.append(Request("/api/ingest/rspamd/", headers, body, what))

    # Every field with every hostile value, one change at a time.
    for field in PUSH_FIELDS:
        values = TEXTS + (JSON_VALUES if field in ("X-Rspamd-rcpt", "X-Rspamd-symbols") else [])
        for value in values:
            headers = push_headers(sender=address, qid=f"F{next(qid)}")
            headers[field] = value
            push(headers, raw_message(address), f"{field}={value[:30]!r}")
    # Several fields at once, at random.
    for n in range(60):
        headers = push_headers(sender=address, qid=f"M{n}")
        for field in rng.sample(PUSH_FIELDS, 3):
            headers[field] = rng.choice(TEXTS + JSON_VALUES)
        push(headers, rng.choice(BODIES) or b"x", f"mixed #{n}")
    # Missing headers, odd bodies, and duplicates of an accepted request.
    for field in PUSH_FIELDS:
        headers = push_headers(sender=address, qid=f"D{field}")
        del headers[field]
        push(headers, raw_message(address), f"without {field}")
    for n, body in enumerate(BODIES):
        push(push_headers(sender=address, qid=f"B{n}"), body, f"body #{n}")
    duplicate = push_headers(sender=address, qid="DUP")
    for _ in range(3):
        push(duplicate, raw_message(address), "duplicate")
    # The scan endpoint: every envelope header with every hostile value.
    for field in SCAN_FIELDS:
        for value in TEXTS:
            headers = {"Authorization": push_headers(sender=address)["Authorization"]}
            headers |= {"From": address, "Rcpt": "friend@example.org", "Queue-Id": f"S{next(qid)}"}
            headers[field] = value
            requests.append(
                Request("/api/ingest/scan/", headers, raw_message(address), f"scan {field}")
            )
    return requests


def test_the_corpus_is_large_and_mixed():
    requests = corpus("box@site.example")
    pushes = [r for r in requests if r.url.endswith("rspamd/")]
    assert len(pushes) >= 200 and len(requests) - len(pushes) >= 100


def test_no_malformed_request_gets_a_5xx_or_leaves_anything_behind(ingest, settings, mailbox):
    settings.INGEST_PASSWORD = PASSWORD
    accepted: dict[str, str] = {}
    statuses: dict[int, int] = {}
    for request in corpus(mailbox.address):
        before = IngestEvent.objects.count()
        response = ingest.generic("POST", request.url, request.body, headers=request.headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, request.what
        after = IngestEvent.objects.count()
        if response.status_code in (200, 202):
            assert after == before + 1, request.what
            event = IngestEvent.objects.order_by("-id").first()
            accepted[str(event.pk)] = request.what
            # What was kept is text PostgreSQL stores as it is, in JSON and in columns.
            assert "\\u0000" not in json.dumps(event.meta), request.what
        else:
            assert after == before, request.what
            assert response.content.endswith(b"\n") and response.content.count(b"\n") == 1

    scans = list(IngestEvent.objects.filter(kind="scan").values_list("pk", flat=True))
    IngestEvent.objects.filter(pk__in=scans).delete()  # scanning needs Rspamd: tested elsewhere
    for pk in list(IngestEvent.objects.values_list("pk", flat=True)):
        ingest_event_process(event_id=pk)

    assert not IngestEvent.objects.exists(), IngestEvent.objects.values_list("last_error")
    pushed = [w for pk, w in accepted.items() if int(pk) not in scans]
    identities = OutboundMessage.objects.values_list("identity", flat=True)
    assert len(set(identities)) == len(identities)
    # Each accepted push is one message, but the three copies of the duplicate.
    assert OutboundMessage.objects.count() == len(pushed) - 2
    assert statuses.get(400, 0) > 100 and statuses.get(200, 0) > 50
