"""10^5 lines of a busy mail host's log, as the agent reads them: deliveries of every
status, the other daemons' lines, syslog's repeated-message and continuation lines,
garbage, and a rotation half-way; every delivery result found, nothing raised."""

from __future__ import annotations

import random

from mxagent.agent import Counts, batches
from mxagent.follow import LogFile

STATUS = [
    ("sent", "2.0.0", "250 2.0.0 Ok: queued as 4dQ8Y3mP1Lz"),
    ("deferred", "4.4.1", "connect to mx.example.net[198.51.100.7]:25: Connection timed out"),
    (
        "bounced",
        "5.1.1",
        "host mx[192.0.2.1] said: 550 5.1.1 <x@example.org>: User unknown "
        "(in reply to RCPT TO command)",
    ),
]
OTHERS = [
    "{stamp} mx1 postfix/smtpd[811]: connect from unknown[203.0.113.4]",
    "{stamp} mx1 postfix/qmgr[7]: {qid}: from=<shop@boulangerie.example>, size=2210, "
    "nrcpt=3 (queue active)",
    "{stamp} mx1 postfix/cleanup[90]: {qid}: message-id=<20261207.{qid}@boulangerie.example>",
    "{stamp} mx1 postfix/qmgr[7]: {qid}: removed",
    "{stamp} mx1 dovecot: imap-login: Login: user=<marie@boulangerie.example>, method=PLAIN",
    "{stamp} mx1 rspamd[55]: <{qid}>; proxy; rspamd_task_write_log: id: <x>, qid: <{qid}>",
    "{stamp} mx1 syslogd: last message repeated 3 times",
    "\tcontinuation of a wrapped line with status=sent (250 ok)",
    "{stamp} mx1 kernel: [12345.678] eth0: link up",
]


def test_a_hundred_thousand_real_shaped_lines_with_a_rotation(tmp_path):
    rng = random.Random(1207)
    lines, expected = [], 0
    for n in range(100_000):
        stamp = f"Dec {1 + n // 20000:2d} {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}"
        qid = f"4dQ{n:011d}"
        if rng.random() < 0.4:
            status, dsn, reply = rng.choice(STATUS)
            lines.append(
                f"{stamp} mx1 postfix/smtp[{n % 977}]: {qid}: to=<r{n}@example.org>, "
                f"relay=mx.example.org[192.0.2.1]:25, delay=0.3, delays=0.1/0/0.1/0.1, "
                f"dsn={dsn}, status={status} ({reply})"
            )
            expected += 1
        elif rng.random() < 0.9:
            lines.append(rng.choice(OTHERS).format(stamp=stamp, qid=qid))
        else:
            lines.append(
                "".join(rng.choice("ab=<>()[]:, \x00é\ufffd") for _ in range(rng.randrange(120)))
            )
    log, state = tmp_path / "mail.log", tmp_path / "state.json"
    half = len(lines) // 2
    log.write_text("\n".join(lines[:half]) + "\n")
    first = LogFile(log, state)
    read = list(first.lines())
    first.commit(read[1000][1])  # shipped the first 1,001 lines, then stopped
    log.rename(tmp_path / "mail.log.1")
    log.write_text("\n".join(lines[half:]) + "\n")

    counts = Counts()
    found = [
        item
        for batch, _skipped, _place in batches(LogFile(log, state).lines(), counts=counts)
        for item in batch
    ]
    already = sum(1 for line in lines[:1001] if "status=" in line and "postfix/smtp[" in line)
    assert counts.lines == len(lines) - 1001
    assert len(found) == expected - already
    assert {item["status"] for item in found} == {"delivered", "deferred", "bounced"}
