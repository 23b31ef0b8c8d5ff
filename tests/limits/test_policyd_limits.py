"""The policy service counts each authenticated recipient against the published limits."""

from __future__ import annotations

import threading

import pytest

from limits.models import MailboxLimit, SendingLimits
from limits.state import limits_rebuild
from tests.abuse.test_policyd import Running, ask
from tests.factories import MailboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def policyd(clean_redis):
    running = Running()
    yield running.port
    running.stop()


def rcpt(box: str, n: int, instance: str = "") -> dict[str, str]:
    return {
        "sasl_username": box,
        "sender": box,
        "recipient": f"friend{n}@example.org",
        "instance": instance or f"i{n}",
    }


def test_the_recipient_after_the_hourly_limit_gets_a_temporary_l_rate(policyd):
    box = MailboxFactory(address="contact@boulangerie.example")
    MailboxLimit.objects.create(mailbox=box, per_hour=3)
    limits_rebuild()

    answers = ask(policyd, [rcpt(box.address, n) for n in range(4)])

    assert answers[:3] == ["DUNNO"] * 3
    assert answers[3].startswith(
        "450 4.7.1 L-RATE <contact@boulangerie.example>: hourly limit of 3 recipients reached, "
        "sending resumes at "
    )


def test_a_mailbox_not_yet_published_gets_the_server_default(policyd):
    SendingLimits.objects.filter(hosting=None).update(mailbox_per_hour=2)
    limits_rebuild()
    box = MailboxFactory()  # created after the rebuild

    answers = ask(policyd, [rcpt(box.address, n) for n in range(3)])

    assert answers[2].startswith("450 4.7.1 L-RATE")


def test_the_per_message_limit_refuses_only_the_extra_recipients_of_that_message(policyd):
    box = MailboxFactory()
    MailboxLimit.objects.create(mailbox=box, per_message=2)
    limits_rebuild()

    answers = ask(
        policyd, [rcpt(box.address, n, "M1") for n in range(3)] + [rcpt(box.address, 9, "M2")]
    )

    assert answers == [
        "DUNNO",
        "DUNNO",
        f"450 4.7.1 L-RATE <{box.address}>: at most 2 recipients per message",
        "DUNNO",
    ]


def test_unauthenticated_mail_is_nobodys_quota(policyd):
    box = MailboxFactory()
    MailboxLimit.objects.create(mailbox=box, per_hour=1)
    limits_rebuild()

    answers = ask(
        policyd, [{"sender": box.address, "recipient": f"r{n}@x.example"} for n in range(3)]
    )

    assert answers == ["DUNNO"] * 3


def test_a_blocked_sender_is_refused_for_the_block_and_not_counted(policyd, clean_redis):
    from enforcement.blockstate import KEY, field

    box = MailboxFactory()
    limits_rebuild()
    clean_redis.hset(
        KEY,
        field("address", box.address),
        '{"id": 1, "code": "L-SPAM20", "rank": 4, "ends_at": null}',
    )

    answers = ask(policyd, [rcpt(box.address, 1)])

    assert answers[0].startswith("REJECT 5.7.1 L-SPAM20")
    assert not clean_redis.exists(f"lwsmail:rate:mailbox:{box.address}")


def test_sixty_connections_at_once_never_pass_one_recipient_over_the_limit(policyd):
    box = MailboxFactory()
    MailboxLimit.objects.create(mailbox=box, per_hour=50)
    limits_rebuild()
    answers: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(60)

    def client(c: int) -> None:
        start.wait()
        got = ask(policyd, [rcpt(box.address, c * 10 + n, f"c{c}") for n in range(3)])
        with lock:
            answers.extend(got)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert len(answers) == 180
    assert answers.count("DUNNO") == 50
    assert all(a.startswith("450 4.7.1 L-RATE") for a in answers if a != "DUNNO")


def test_limits_unreadable_defer_or_pass_as_configured(clean_redis, settings):
    """Redis gone: the same rule as the block state (POLICYD_FAIL_OPEN)."""
    from tests.harness.common import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    for fail_open, expected in ((False, "DEFER_IF_PERMIT"), (True, "DUNNO")):
        running = Running(redis_url=dead, fail_open=fail_open)
        try:
            assert ask(running.port, [rcpt("a@b.example", 1)])[0].startswith(expected)
        finally:
            running.stop()
