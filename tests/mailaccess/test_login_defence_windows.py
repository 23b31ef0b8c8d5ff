"""The brute-force defence's windows to the second (Redis, as the auth policy runs it)."""

from __future__ import annotations

import pytest

from mailaccess.policy import PREFIX, allow, report

IP = "203.0.113.66"
T0 = 1_800_000_000.0


@pytest.fixture
def redis(clean_auth_keys):
    """The defaults: 10 in 10 minutes wait 5 s, 30 in an hour refused."""
    return clean_auth_keys


def fail(redis, n: int, at: float, ip: str = IP) -> None:
    for _ in range(n):
        report(redis, body={"login": "box@example.fr", "remote": ip, "protocol": "imap"}, now=at)


@pytest.mark.parametrize(("offset", "status"), [(599, 5), (601, 0)])
def test_ten_failures_make_the_next_attempt_wait_for_10_minutes_to_the_second(
    redis, offset, status
):
    fail(redis, 9, T0)
    assert allow(redis, ip=IP, now=T0 + 1) == 0
    fail(redis, 1, T0)
    assert allow(redis, ip=IP, now=T0 + offset) == status


def test_thirty_failures_in_an_hour_refuse_the_client_and_not_29(redis):
    fail(redis, 29, T0)
    assert allow(redis, ip=IP, now=T0 + 3000) == 0
    fail(redis, 1, T0 + 3599)  # the 30th, one second inside the hour of the first
    assert allow(redis, ip=IP, now=T0 + 3600) == -1


def test_failures_older_than_the_hour_do_not_count_towards_the_refusal(redis):
    fail(redis, 29, T0)
    fail(redis, 1, T0 + 3601)  # the first 29 are out of its hour
    assert allow(redis, ip=IP, now=T0 + 3601) == 0


def test_a_refused_client_is_refused_for_an_hour_to_the_second(redis):
    fail(redis, 30, T0)
    assert allow(redis, ip=IP, now=T0 + 1) == -1
    ttl = redis.ttl(f"{PREFIX}refused:ip:{IP}")
    assert 3590 < ttl <= 3600


def test_another_client_and_a_success_are_never_counted(redis):
    fail(redis, 30, T0, ip="198.51.100.1")
    report(redis, body={"login": "box@example.fr", "remote": IP, "success": True}, now=T0)
    assert allow(redis, ip=IP, now=T0 + 1) == 0


def test_a_hostile_report_is_queued_as_text_and_never_fails(redis):
    for body in (
        {},
        {"login": 5, "remote": ["x"], "success": "yes"},
        {"login": "a" * 10_000, "remote": "not-an-ip", "protocol": "\x00"},
        {"login": "é@ü.example", "remote": "::1", "reason": {"x": 1}},
    ):
        report(redis, body=body, now=T0)
    assert redis.llen(f"{PREFIX}attempts") == 4


def test_the_50th_failure_on_one_mailbox_in_an_hour_alerts_once_and_locks_nobody_out(redis):
    seen = [
        report(
            redis, body={"login": "box@example.fr", "remote": f"198.51.100.{n}"}, now=T0
        ).alert_now
        for n in range(60)
    ]
    assert seen.index(True) == 49 and seen.count(True) == 1
    # Spread over 60 clients, none of them is delayed: the owner logs in.
    assert allow(redis, ip="192.0.2.1", now=T0 + 1) == 0


@pytest.mark.django_db
def test_the_alert_mails_the_customer_in_their_language_and_staff(mailoutbox, settings):
    from mailaccess.notifications import failed_logins_notify
    from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory

    settings.STAFF_ALERT_EMAILS = ["noc@provider.example"]
    account = CustomerAccountFactory(language="fr", contact_email="marie@fai.test")
    box = MailboxFactory(
        address="contact@boulangerie.example",
        domain=DomainFactory(name="boulangerie.example", hosting__customer=account),
    )
    assert failed_logins_notify(login=box.address)
    customer, staff = mailoutbox
    assert customer.to == ["marie@fai.test"] and "contact@boulangerie.example" in customer.subject
    assert "journal des connexions" in customer.body and "Bonjour" in customer.body
    assert staff.to == ["noc@provider.example"]
    assert not failed_logins_notify(login="nobody@boulangerie.example")
