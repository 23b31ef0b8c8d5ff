from __future__ import annotations

import random

import pytest

from webhooks.signing import signature, verify

SECRET = "s3cret-of-the-receiver-0123456789"
BODY = '{"event":"block.started","data":{"target":"élodie@café.fr"}}'.encode()


def test_a_receiver_verifies_what_lwsmail_signed():
    assert verify(SECRET, signature(SECRET, 1_800_000_000, BODY), BODY, now=1_800_000_010)


@pytest.mark.parametrize(
    "header",
    [
        signature(SECRET, 1_800_000_000, BODY + b" "),
        signature("another-secret-0123456789", 1_800_000_000, BODY),
        signature(SECRET, 1_800_000_000, BODY).replace("t=1800000000", "t=1800000001"),
    ],
    ids=["body changed", "other secret", "timestamp changed"],
)
def test_a_tampered_delivery_does_not_verify(header):
    assert not verify(SECRET, header, BODY, now=1_800_000_000)


def test_a_replay_older_than_the_tolerance_does_not_verify():
    header = signature(SECRET, 1_800_000_000, BODY)
    assert verify(SECRET, header, BODY, tolerance=300, now=1_800_000_300)
    assert not verify(SECRET, header, BODY, tolerance=300, now=1_800_000_301)


def test_no_malformed_header_verifies_or_raises():
    rng = random.Random(14)
    alphabet = "t=v1,0123456789abcdef ;\x00é"
    corpus = ["", "t=", "v1=", "t=abc,v1=00", "t=1800000000", "=,=,", "t=1e9,v1=" + "0" * 64]
    corpus += [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 90))) for _ in range(300)
    ]
    for header in corpus:
        assert verify(SECRET, header, BODY, now=1_800_000_000) is False, header
