"""Postfix's delivery lines as the mail hosts log them, read by the agent's parser: every
status, every stamp, the year's edge, and anything else skipped without an error."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from mxagent.parse import parse

PARIS = timezone(timedelta(hours=1))
NOW = datetime(2026, 12, 7, 16, 30, tzinfo=PARIS)
QID = "4dQ8Xv1Zk2z9bKM"  # a long queue id (enable_long_queue_ids)

SENT = (
    f"Dec  7 16:00:01 mx1 postfix/smtp[2211]: {QID}: to=<Anna@Example.org>, "
    "relay=mx.example.org[192.0.2.25]:25, delay=0.42, delays=0.05/0.01/0.2/0.16, dsn=2.0.0, "
    "status=sent (250 2.0.0 Ok: queued as 4dQ8Y3mP1Lz)"
)
DEFERRED = (
    f"Dec  7 16:00:02.123456 mx1 postfix/smtp[2212]: {QID}: to=<bob@example.net>, "
    "relay=mx.example.net[198.51.100.7]:25, delay=1.1, delays=0.05/0/0.5/0.5, dsn=4.7.0, "
    "status=deferred (host mx.example.net[198.51.100.7] said: 421 4.7.0 Try again later, "
    "rate limited (in reply to end of DATA command))"
)
BOUNCED = (
    f"2026-12-07T16:00:03.000001+01:00 mx1 postfix/smtp[2213]: {QID}: to=<nobody@example.com>, "
    "orig_to=<alias@example.com>, relay=mx.example.com[203.0.113.9]:25, delay=0.3, "
    "delays=0.05/0/0.1/0.15, dsn=5.1.1, status=bounced (host mx.example.com[203.0.113.9] "
    "said: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown "
    "(in reply to RCPT TO command))"
)
EXPIRED = (
    f"Dec  7 16:00:04 mx1 postfix/qmgr[900]: {QID}: from=<shop@boulangerie.example>, "
    "status=expired, returned to sender"
)


def test_each_status_gives_the_recipient_the_code_and_the_exact_reply():
    sent, deferred, bounced, expired = (
        parse(x, now=NOW) for x in (SENT, DEFERRED, BOUNCED, EXPIRED)
    )
    assert (sent.recipient, sent.status, sent.dsn) == ("anna@example.org", "delivered", "2.0.0")
    assert sent.reply == "250 2.0.0 Ok: queued as 4dQ8Y3mP1Lz"
    assert sent.relay == "mx.example.org[192.0.2.25]:25" and sent.delay == 0.42
    assert sent.logged_at == "2026-12-07T16:00:01+01:00" and sent.host == "mx1"
    assert deferred.status == "deferred" and deferred.reply.endswith("end of DATA command)")
    assert "421 4.7.0 Try again later, rate limited" in deferred.reply
    assert (bounced.recipient, bounced.status, bounced.dsn) == (
        "nobody@example.com",
        "bounced",
        "5.1.1",
    )
    assert bounced.reply.startswith("host mx.example.com[203.0.113.9] said: 550 5.1.1")
    assert bounced.logged_at == "2026-12-07T16:00:03.000001+01:00"
    assert (expired.recipient, expired.status, expired.queue_id) == ("", "expired", QID)


@pytest.mark.parametrize(
    "program", ["postfix/lmtp", "postfix-out/smtp", "postfix/submission/smtp", "postfix/virtual"]
)
def test_other_delivery_agents_and_instances_are_read(program):
    line = SENT.replace("postfix/smtp", program)
    assert parse(line, now=NOW).status == "delivered"


@pytest.mark.parametrize(
    ("stamp", "now", "expected"),
    [
        # Read on 1 January: a line of 31 December is of the year before.
        ("Dec 31 23:59:59", datetime(2027, 1, 1, 0, 0, 5, tzinfo=PARIS), "2026-12-31T23:59:59"),
        ("Jan  1 00:00:00", datetime(2027, 1, 1, 0, 0, 5, tzinfo=PARIS), "2027-01-01T00:00:00"),
        # A day ahead of the agent's clock is still this year (clocks apart), two is not.
        ("Dec  8 16:29:59", NOW, "2026-12-08T16:29:59"),
        ("Dec  9 16:30:01", NOW, "2025-12-09T16:30:01"),
        ("Feb 29 12:00:00", datetime(2028, 3, 1, tzinfo=PARIS), "2028-02-29T12:00:00"),
    ],
)
def test_a_syslog_stamp_takes_the_year_it_was_written_in(stamp, now, expected):
    line = SENT.replace("Dec  7 16:00:01", stamp)
    assert parse(line, now=now).logged_at.startswith(expected)


def test_29_february_of_a_year_that_has_none_is_skipped():
    line = SENT.replace("Dec  7 16:00:01", "Feb 29 12:00:00")
    assert parse(line, now=datetime(2027, 3, 1, tzinfo=PARIS)) is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        f"Dec  7 16:00:00 mx1 postfix/smtpd[12]: {QID}: client=unknown[192.0.2.1]",
        f"Dec  7 16:00:00 mx1 postfix/qmgr[900]: {QID}: from=<a@b>, size=3, nrcpt=1 (queue active)",
        f"Dec  7 16:00:00 mx1 postfix/qmgr[900]: {QID}: removed",
        f"Dec  7 16:00:00 mx1 dovecot[7]: {QID}: to=<a@b>, status=sent (250 ok)",
        f"Dec  7 16:00:00 mx1 postfix/smtp[1]: {QID}: to=<a@b>, status=weird (x)",
        f"Dec  7 16:00:00 mx1 postfix/smtp[1]: {QID}: status=sent (no recipient)",
        f"Xyz  7 16:00:00 mx1 postfix/smtp[1]: {QID}: to=<a@b>, status=sent (250 ok)",
        "Dec  7 16:00:00 mx1 postfix/smtp[1]: warning: TLS library problem",
        "2026-13-45T99:99:99+01:00 mx1 postfix/smtp[1]: ABCDEF: to=<a@b>, status=sent (ok)",
    ],
)
def test_any_other_line_is_skipped(line):
    assert parse(line, now=NOW) is None


def test_ten_thousand_mangled_lines_never_raise():
    rng = random.Random(27)
    pieces = [SENT, DEFERRED, BOUNCED, EXPIRED]
    alphabet = "<>()=,:[]. \t\x00é\ufffdabcdef0123456789"
    for _ in range(10_000):
        line = rng.choice(pieces)
        cut = rng.randrange(len(line))
        noise = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20)))
        result = parse(rng.choice([line[:cut] + noise + line[cut:], line[:cut], noise]), now=NOW)
        assert result is None or result.status in {"delivered", "deferred", "bounced", "expired"}
