"""Hostile and broken feedback reports (a generated corpus: truncations, flipped bytes,
broken MIME, giant and binary headers, forged references, random bytes): reading one
never raises, every report is stored exactly once (a complaint or parked), the HTTP
endpoint never answers 5xx, and fbl_receive exits as Postfix expects."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from api.scopes import Scope
from reputation.complaints import Outcome, feedback_report_receive, report_digest
from reputation.models import ParkedReport, Via
from tests.factories import MailboxFactory, sent_message
from tests.harness.common import ROOT, free_port
from tests.harness.rspamd import REFERENCE_KEY
from tests.reputation.arf import generic, microsoft, original, signed, yahoo
from tests.workers import worker_env
from tracking.models import Complaint

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)
QID = "4ZkT3v0Zq5z9vG2"


@pytest.fixture(autouse=True)
def _key(settings):
    settings.MESSAGE_REFERENCE_KEY = REFERENCE_KEY


def _bases() -> list[bytes]:
    inner = original(sender="contact@fuzz.example", queue_id=QID, reference=signed(QID, T0))
    return [yahoo(inner), microsoft(inner), generic(inner)]


def corpus() -> list[bytes]:
    rng = random.Random(28)
    bases = _bases()
    out: list[bytes] = [b"", b"\r\n\r\n", b"\x00" * 64]
    for base in bases:
        out += [base[: len(base) * k // 25] for k in range(1, 25)]
        for _ in range(15):
            mutated = bytearray(base)
            for _ in range(rng.randint(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            out.append(bytes(mutated))
    base = bases[0]
    head, _, body = base.partition(b"\r\n\r\n")
    out += [
        base.replace(b"boundary=", b"boundery="),
        base.replace(b"multipart/report", b"multipart/mixed"),
        base.replace(b"message/feedback-report", b"text/plain"),
        base.replace(b"text/rfc822-headers", b"application/octet-stream"),
        head + b"\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n" + body,
        head + b"\r\nSubject: \xff\xfe\xfd =?utf-8?b?!!!?= =?x-unknown?q?=ZZ?=\r\n\r\n" + body,
        base.replace(b"Arrival-Date: ", b"Arrival-Date: Feb 30 99999 25:61:61 +9999 "),
        base.replace(b"Feedback-Type: abuse", b"Feedback-Type: " + b"\x00" * 40),
        base.replace(b"X-LWS-Ref: 1.", b"X-LWS-Ref: 1.."),
        base.replace(b"X-LWS-Ref: 1.", b"X-LWS-Ref: 1." + b"9" * 40 + b"."),
        base.replace(
            signed(QID, T0).encode(), b"1." + QID.encode() + b".999999999999999999." + b"a" * 32
        ),
        base.replace(b"Message-ID: <", b"Message-ID: <" + b"m" * 5000),
        base.replace(b"(Postfix)", b"(Postfix) " + b"id abcdefghij " * 1000),
        b"Content-Type: multipart/report; boundary=x\r\n\r\n" + b"--x\r\n\r\n" * 2000 + b"--x--",
        _nested(40),
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64!!!",
    ]
    out += [bytes(rng.randrange(256) for _ in range(rng.choice([1, 50, 4000]))) for _ in range(20)]
    return out


def _nested(depth: int) -> bytes:
    inner = b"Message-ID: <deep@fuzz.example>\r\n\r\nbody"
    for _ in range(depth):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return inner


def test_no_report_of_the_corpus_raises_is_lost_or_stored_twice():
    box = MailboxFactory(address="contact@fuzz.example", domain__name="fuzz.example")
    sent_message(box, at=T0, queue_id=QID, message_id="<x@fuzz.example>")
    reports = corpus()
    outcomes = [feedback_report_receive(raw=r, via=Via.PIPE, now=T0).outcome for r in reports]

    assert set(outcomes) == {Outcome.COUNTED, Outcome.MATCHED, Outcome.DUPLICATE, Outcome.PARKED}
    digests = {report_digest(r) for r in reports}
    stored = list(Complaint.objects.values_list("digest", flat=True)) + list(
        ParkedReport.objects.values_list("digest", flat=True)
    )
    assert sorted(stored) == sorted(digests)
    assert Complaint.objects.filter(counted=True).count() == 1
    for parked in ParkedReport.objects.all():
        assert parked.reason
        assert bytes(parked.raw) in reports


def test_the_http_endpoint_never_answers_5xx_to_the_corpus(make_api, client):
    api = make_api(scopes=[Scope.COMPLAINTS_WRITE])
    for raw in corpus()[::3]:
        response = client.post(
            "/api/v1/complaints/",
            raw,
            content_type="message/rfc822",
            HTTP_AUTHORIZATION=f"Bearer {api.key}",
        )
        assert response.status_code < 500, raw[:200]


def _receive(monkeypatch, raw: bytes) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out = io.StringIO()
    try:
        call_command("fbl_receive", stdout=out, stderr=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def test_fbl_receive_parks_what_it_cannot_read_and_refuses_what_postfix_should_return(
    monkeypatch, settings
):
    settings.FBL_MAX_BYTES = 10_000
    code, said = _receive(monkeypatch, b"Subject: hello\r\n\r\nnot a report")
    assert code == 0 and said.startswith("parked as #")
    assert _receive(monkeypatch, b"")[0] == 65
    code, said = _receive(monkeypatch, b"x" * 10_001)
    assert code == 65 and "larger than 10000 bytes" in said
    assert ParkedReport.objects.count() == 1


def test_fbl_receive_asks_postfix_to_retry_when_the_database_is_down():
    env = {**worker_env(), "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/none"}
    done = subprocess.run(
        [sys.executable, "manage.py", "fbl_receive"],
        input=_bases()[0],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 75, done.stderr[-2000:]
    assert b"try again later" in done.stderr
