"""Every login reaches the panel from a real Dovecot (its auth policy): the access log, the
brute-force defence, compromise detection from real logins, and the mail going on when
the panel is away."""

from __future__ import annotations

import imaplib
import time

import pytest
from django.urls import reverse

from hosting.passwords import dovecot_hash
from hosting.redis import client as redis_client
from limits.models import Hold
from limits.services import holds_sync
from limits.state import limits_rebuild
from mailaccess.models import AccessAttempt, LoginDefence
from mailaccess.policy import REFUSED_REASON, report
from mailaccess.services import attempts_record, login_defence_publish
from tests.factories import CustomerAccountFactory, DomainFactory, MailboxFactory, UserFactory
from tests.harness.forwarder import Forwarder
from tests.mailaccess.conftest import authpolicyd, dovecot_for_this_database
from tests.panel.conftest import PASSWORD as PANEL_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

BOX = "contact@boulangerie.example"
SECRET = "Pain-au-levain-1907"
TOKEN = "authpolicy-token-for-tests"
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))


def imap(dovecot, user: str, password: str, *, ip: str = "") -> tuple[bool, str, float]:
    """LOGIN through the real Dovecot, from `ip` as a webmail names it: (ok, text, seconds)."""
    started = time.monotonic()
    with imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=60) as conn:
        if ip:
            conn._simple_command("ID", f'("x-originating-ip" "{ip}")')
        try:
            conn.login(user, password)
        except imaplib.IMAP4.error as exc:
            return False, exc.args[0].decode(), time.monotonic() - started
        conn.logout()
        return True, "", time.monotonic() - started


@pytest.fixture
def clean_limits(redis_client):
    """No limits, counters, holds or counting mark left for the next test (as the limits
    tests leave Redis)."""
    from enforcement.counters import HOLDS_KEY, LIMITS_KEY, PREFIX, SINCE_KEY

    def wipe() -> None:
        redis_client.delete(*redis_client.scan_iter(f"{PREFIX}*"), LIMITS_KEY, HOLDS_KEY)

    wipe()
    redis_client.set(SINCE_KEY, 0)
    yield redis_client
    wipe()
    redis_client.set(SINCE_KEY, 0)


@pytest.fixture
def customer(transactional_db):
    user = UserFactory(username="marie")
    account = CustomerAccountFactory(users=[user])
    domain = DomainFactory(hosting__customer=account, name="boulangerie.example")
    user.box = MailboxFactory(domain=domain, address=BOX, password_hash=dovecot_hash(SECRET))
    return user


@pytest.fixture
def dovecot(settings, clean_auth_keys, customer, tmp_path):
    """Dovecot asking the auth policy daemon, as deployed (deploy/dovecot)."""
    settings.AUTHPOLICY_TOKEN = TOKEN
    login_defence_publish(redis=redis_client())
    # The daemon listens before Dovecot picks its free ports: none of them can be its.
    with authpolicyd(TOKEN, tmp_path / "authpolicyd.log") as url:
        server = dovecot_for_this_database()
        server.policy_url, server.policy_token = url, TOKEN
        with server.running():
            yield server
    server.cleanup()


def test_the_webs_endpoint_serves_dovecot_as_the_daemon_does(
    live_server, settings, clean_auth_keys, customer
):
    settings.AUTHPOLICY_TOKEN = TOKEN
    server = dovecot_for_this_database()
    server.policy_url, server.policy_token = f"{live_server.url}/api/authpolicy/", TOKEN
    with server.running():
        assert imap(server, BOX, SECRET, ip="198.51.100.7")[0]
        assert not imap(server, BOX, "wrong", ip="203.0.113.9")[0]
    server.cleanup()
    rows = [(a.client_ip, a.result) for a in recorded()]
    assert rows == [("198.51.100.7", "success"), ("203.0.113.9", "wrong_password")]


def recorded() -> list[AccessAttempt]:
    while attempts_record(redis=redis_client()):
        pass
    return list(AccessAttempt.objects.order_by("at", "id"))


def test_a_right_and_a_wrong_password_reach_the_access_log_with_protocol_ip_and_result(
    dovecot, customer, client
):
    assert imap(dovecot, BOX, SECRET, ip="198.51.100.7")[0]
    assert not imap(dovecot, BOX, "Pain-au-levain-1908", ip="203.0.113.9")[0]
    assert not imap(dovecot, "contcat@boulangerie.example", SECRET, ip="203.0.113.9")[0]
    assert not imap(dovecot, "x@nowhere.example", SECRET)[0]
    rows = [(a.login, a.protocol, a.client_ip, a.result, a.hosting_id) for a in recorded()]
    hosting = customer.box.domain.hosting_id
    assert rows == [
        (BOX, "imap", "198.51.100.7", "success", hosting),
        (BOX, "imap", "203.0.113.9", "wrong_password", hosting),
        ("contcat@boulangerie.example", "imap", "203.0.113.9", "unknown_mailbox", hosting),
        ("x@nowhere.example", "imap", "127.0.0.1", "unknown_mailbox", None),
    ]
    customer.box.refresh_from_db()
    assert customer.box.last_login_at == AccessAttempt.objects.get(result="success").at
    assert client.post("/accounts/login/", {"username": "marie", "password": PANEL_PASSWORD})
    page = client.get(reverse("access-log", args=[hosting])).content.decode()
    assert "198.51.100.7" in page and "203.0.113.9" in page and "contcat@" in page
    assert "x@nowhere.example" not in page  # nobody's domain: staff only
    failed = client.get(reverse("access-log", args=[hosting]), {"result": "wrong_password"})
    assert "198.51.100.7" not in failed.content.decode()


def test_a_held_mailbox_refused_with_the_right_password_is_logged_with_the_reason(
    dovecot, customer
):
    Hold.objects.create(
        mailbox=customer.box,
        hosting=customer.box.domain.hosting,
        token="t-1",
        reason=Hold.Reason.NETWORKS,
        started_at=customer.box.created_at,
        observed=6,
        threshold=5,
    )
    ok, text, _ = imap(dovecot, BOX, SECRET)
    assert not ok and "L-HOLD" in text
    (attempt,) = recorded()
    assert attempt.result == "refused"
    assert attempt.reason == "L-HOLD password change required, see the panel"


def test_the_11th_failure_from_one_ip_in_10_minutes_waits_and_the_31st_in_an_hour_is_refused(
    dovecot, customer
):
    attacker = "203.0.113.66"
    for _ in range(9):
        assert not imap(dovecot, BOX, "guess", ip=attacker)[0]
    assert imap(dovecot, BOX, SECRET, ip=attacker)[2] < 4  # the 10th attempt: no wait yet
    assert not imap(dovecot, BOX, "guess", ip=attacker)[0]  # the 10th failure
    ok, _, waited = imap(dovecot, BOX, SECRET, ip=attacker)
    assert ok and waited >= 5  # after 10 failures every attempt waits 5 s
    # Twenty more failures, as Dovecot reports them (waiting 5 s for each is the point).
    now = time.time()
    for _ in range(20):
        report(redis_client(), body={"login": BOX, "remote": attacker, "protocol": "imap"}, now=now)
    ok, text, _ = imap(dovecot, BOX, SECRET, ip=attacker)
    assert not ok and REFUSED_REASON in text  # even the right password, for an hour
    # The owner, from home, is never locked out by the attacker's failures.
    assert imap(dovecot, BOX, SECRET, ip="198.51.100.7")[0]
    refused = [a for a in recorded() if a.reason == REFUSED_REASON]
    assert len(refused) == 1 and refused[0].client_ip == attacker


def test_the_providers_own_network_is_never_delayed_nor_refused(dovecot, customer):
    LoginDefence.objects.filter(pk=1).update(exempt_networks=["192.0.2.0/24"])
    login_defence_publish(redis=redis_client())
    now = time.time()
    for _ in range(40):
        report(
            redis_client(), body={"login": BOX, "remote": "192.0.2.10", "protocol": "imap"}, now=now
        )
    ok, _, waited = imap(dovecot, BOX, SECRET, ip="192.0.2.10")
    assert ok and waited < 4


def test_six_networks_of_successful_logins_in_an_hour_hold_the_mailbox(
    dovecot, customer, clean_limits
):
    limits_rebuild()  # publishes "more than 5 networks in an hour holds"
    for n in range(1, 6):
        assert imap(dovecot, BOX, SECRET, ip=f"198.51.{n}.7")[0]
    assert not Hold.objects.exists()
    assert imap(dovecot, BOX, SECRET, ip="198.51.6.7")[0]  # the 6th network: held after it
    holds_sync()  # the beat job records what the policy side held (the worker does it first)
    hold = Hold.objects.standing().get(mailbox=customer.box)
    assert (hold.reason, hold.observed, hold.threshold) == ("networks", 6, 5)
    ok, text, _ = imap(dovecot, BOX, SECRET, ip="198.51.1.7")
    assert not ok and "L-HOLD" in text


def test_logins_go_on_while_the_panel_is_away_and_are_logged_again_when_it_returns(
    settings, clean_auth_keys, customer, tmp_path
):
    settings.AUTHPOLICY_TOKEN = TOKEN
    with authpolicyd(TOKEN, tmp_path / "authpolicyd.log") as url:
        port = int(url.split(":")[2].split("/")[0])
        panel = Forwarder(("127.0.0.1", port)).start()
        server = dovecot_for_this_database()  # after the ports above are taken
        server.policy_url = f"http://127.0.0.1:{panel.port}/api/authpolicy/"
        server.policy_token = TOKEN
        with server.running():
            assert imap(server, BOX, SECRET, ip="198.51.100.1")[0]
            panel.stop()  # the panel goes away
            assert imap(server, BOX, SECRET, ip="198.51.100.2")[0]
            assert not imap(server, BOX, "wrong", ip="198.51.100.3")[0]
            panel.start()  # and comes back
            assert imap(server, BOX, SECRET, ip="198.51.100.4")[0]
    server.cleanup()
    # What Dovecot reported while the panel was there is all there, once; what happened
    # while it was away is there too when Dovecot's HTTP client got it through on a retry.
    ips = [a.client_ip for a in recorded()]
    assert {"198.51.100.1", "198.51.100.4"} <= set(ips) and len(ips) == len(set(ips))
