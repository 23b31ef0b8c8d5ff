"""A generated corpus of hostile policy requests: every one gets an answer of the protocol,
none stops the service or holds a mailbox that does not exist, and a real request after
them is answered right."""

from __future__ import annotations

import random
import socket

import pytest

from enforcement.counters import HOLDS_KEY
from limits.state import limits_rebuild
from tests.abuse.test_policyd import Running, ask

pytestmark = pytest.mark.django_db

ODD = [
    "",
    " ",
    "unknown",
    "::",
    "999.1.1.1",
    "192.0.2.1/33",
    "fe80::1%eth0",
    "2001:db8::zz",
    "é@é",
    "a@",
    "@b",
    "x" * 5000,
    "\u202econtact@boulangerie.example",
    "contact@boulangerie.example\x00",
    "CONTACT@BOULANGERIE.EXAMPLE",
    "=====",
    "0",
    "-1",
    "1e308",
    "null",
    '{"t": 1}',
]
ATTRIBUTES = [
    "sasl_username",
    "sender",
    "client_address",
    "instance",
    "recipient",
    "protocol_state",
    "recipient_count",
    "size",
]


def corpus(seed: int = 20261129, count: int = 400) -> list[dict[str, str]]:
    rng = random.Random(seed)
    requests = []
    for _ in range(count):
        attrs = {}
        for name in rng.sample(ATTRIBUTES, rng.randint(0, len(ATTRIBUTES))):
            if rng.random() < 0.6:
                value = rng.choice(ODD)
            else:
                value = "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 40)))
            attrs[name] = value.replace("\n", " ")
        if rng.random() < 0.3:
            attrs["sasl_username"] = f"box{rng.randint(0, 3)}@boulangerie.example"
            attrs["protocol_state"] = "RCPT"
        requests.append(attrs)
    return requests


def test_the_corpus_is_large_and_mixed():
    requests = corpus()
    assert len(requests) == 400
    assert sum("client_address" in r for r in requests) > 100
    assert sum(r.get("protocol_state") == "RCPT" for r in requests) > 100


def test_no_hostile_request_breaks_the_service_or_holds_anyone(customer, clean_redis):
    limits_rebuild()
    running = Running()
    try:
        answers = []
        for start in range(0, 400, 50):
            answers += ask(running.port, corpus()[start : start + 50])
        # Raw garbage with no attribute at all, then a real request on a fresh connection.
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
            sock.sendall(b"\xff\xfe\x00garbage without equals\n\n")
            assert sock.recv(100).startswith(b"action=DUNNO")
        real = {
            "sasl_username": customer.box.address,
            "sender": customer.box.address,
            "client_address": "192.0.2.10",
            "instance": "real",
        }
        after = ask(running.port, [real])
    finally:
        running.stop()

    assert len(answers) == 400
    assert all(
        a == "DUNNO" or a.startswith(("REJECT 5.7.1 L-", "450 4.7.1 L-RATE")) for a in answers
    )
    assert after == ["DUNNO"]
    assert not clean_redis.hexists(HOLDS_KEY, customer.box.address)
