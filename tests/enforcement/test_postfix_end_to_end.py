"""The whole loop through a real Postfix: a client sends with smtplib, Rspamd scans as
milter and pushes to the panel, a real worker records, the policy service refuses the
blocked sender, and the sender gets through again once unblocked or once the block ends.
"""

from __future__ import annotations

import smtplib
import sys
from datetime import timedelta
from email.message import EmailMessage

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from abuse.models import Block
from enforcement.blockstate import KEY, field
from hosting.redis import client as blockstate
from limits.models import DomainLimit, Hold, HoldSettings, MailboxBaseline, MailboxLimit
from limits.state import limits_rebuild
from tests.abuse.helpers import spam_at, website_spam_at
from tests.factories import (
    CustomerAccountFactory,
    DomainFactory,
    MailboxFactory,
    SystemUserFactory,
    UserFactory,
)
from tests.harness.common import background, free_port, listening, wait_for
from tests.harness.postfix import Postfix
from tests.harness.smtp_sink import Inbox, SmtpSink
from tests.tracking.mail import GTUBE
from tests.workers import celery_worker, pipe_env, wait_until, worker_env
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

FRIEND = "friend@example.org"
SPAM_SUBJECT = "URGENT: WIN a FREE prize, -50% offer from your bank"


class Platform:
    """Postfix + Rspamd (milter, pushing to the live server) + policyd + a worker."""

    def __init__(self, postfix: Postfix, inbox: Inbox, rspamd) -> None:
        self.postfix = postfix
        self.inbox = inbox
        self.rspamd = rspamd

    def send(self, sender: str, *, subject: str, body: str = "Hello", **headers: str) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = sender, FRIEND, subject
        for name, value in headers.items():
            mail[name.replace("_", "-")] = value
        mail.set_content(body)
        # A customer's mail client logs in as its mailbox, as on the provider's servers.
        with self.postfix.client(login=sender) as smtp:
            smtp.send_message(mail)

    def refusal(
        self, sender: str, *, subject: str = "Lunch on Friday?", **kwargs
    ) -> tuple[int, str]:
        """The SMTP code and text the client gets for a message that must be refused."""
        try:
            self.send(sender, subject=subject, **kwargs)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients[FRIEND]
            return code, text.decode()
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, exc.smtp_error.decode()
        raise AssertionError(f"{sender} was not refused\n{self.postfix.log()[-3000:]}")

    def delivered(self, subject: str) -> list[EmailMessage]:
        return [m for m in self.inbox.received if m["Subject"] == subject]

    def wait_delivered(self, subject: str) -> EmailMessage:
        assert wait_until(lambda: self.delivered(subject), timeout=30), self.postfix.log()[-3000:]
        return self.delivered(subject)[0]

    def wait_recorded(self, sender: str, count: int) -> None:
        recorded = wait_until(
            lambda: OutboundMessage.objects.filter(sender=sender).count() >= count, timeout=60
        )
        assert recorded, f"{self.postfix.log()[-3000:]}\n{self.rspamd.output()[-3000:]}"

    def wait_blocked(self, scope: str, target: str) -> Block:
        state = blockstate()
        assert wait_until(lambda: state.hexists(KEY, field(scope, target)), timeout=30)
        return Block.objects.unlifted().get(target=target)


@pytest.fixture
def platform(ingest_settings, rspamd, redis_client, tmp_path):
    redis_client.flushdb()
    blockstate.cache_clear()
    sink = SmtpSink()
    # The worker mails suspensions to the same sink that Postfix relays to.
    ingest_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    ingest_settings.EMAIL_HOST, ingest_settings.EMAIL_PORT = "127.0.0.1", sink.port
    ingest_settings.SITE_URL = "https://panel.example.net"
    policy_port = free_port()
    policyd = [sys.executable, "manage.py", "policyd", "--listen", f"127.0.0.1:{policy_port}"]
    postfix = Postfix(milter_port=rspamd.proxy_port, policy_port=policy_port, relay_port=sink.port)
    # The provider's FBL address too (tests/reputation): reports piped to fbl_receive.
    postfix.with_fbl(env=pipe_env())
    with (
        sink as inbox,
        background(policyd, env=worker_env(), log=tmp_path / "policyd.log"),
        celery_worker(log=tmp_path / "worker.log"),
    ):
        wait_for(lambda: listening(policy_port), timeout=30, what="policyd")
        postfix.start()
        try:
            yield Platform(postfix, inbox, rspamd)
        finally:
            postfix.cleanup()


@pytest.fixture
def customer():
    user = UserFactory(username="marie")
    account = CustomerAccountFactory(users=[user], language="fr", contact_email="marie@fai.test")
    domain = DomainFactory(hosting__customer=account, name="boulangerie.example")
    user.box = MailboxFactory(domain=domain, address="contact@boulangerie.example")
    return user


def test_postfix_refuses_the_40th_spam_sender_with_l_spam20_until_the_customer_unblocks(
    platform, customer, client
):
    address, hosting = customer.box.address, customer.box.domain.hosting
    # 39 spam two days ago: their L-SPAM10 ran out a day ago and the lift job lifted it.
    spam_at(address, timezone.now() - timedelta(days=2), 39)
    call_command("lift_expired_blocks")
    platform.send(address, subject="Invoice 2026-118")
    assert platform.wait_delivered("Invoice 2026-118")

    platform.send(address, subject=SPAM_SUBJECT, body="Claim now http://bit.ly/x")
    platform.wait_recorded(address, 41)
    block = platform.wait_blocked("address", address)

    assert block.code == "L-SPAM20"
    code, text = platform.refusal(address)
    assert code == 554
    assert text.startswith("5.7.1 ") and f"L-SPAM20 <{address}>: sending suspended" in text

    # Marie was warned at the 32nd spam (two days ago), and now told of the suspension.
    def told() -> list[EmailMessage]:
        return [m for m in platform.inbox.received if m["To"] == "marie@fai.test"]

    assert wait_until(lambda: any("Envoi suspendu" in m["Subject"] for m in told()), timeout=30)
    warning, suspension = (str(m["Subject"]).strip() for m in told())
    assert warning.startswith(f"{address} : 32 spams") and "suspendu à 40" in warning
    assert suspension == f"[L-SPAM20] Envoi suspendu pour {address}"

    # The customer unblocks on the Mail Abuse page once the 24 h complaint period is over.
    login = {"username": "marie", "password": "pw-for-tests"}
    with time_machine.travel(block.started_at + timedelta(hours=24, seconds=1)):
        assert client.post("/accounts/login/", login).status_code == 302
        response = client.post(reverse("unblock", args=[hosting.pk]), {"confirm": "on"})
    assert response.status_code == 302

    platform.send(address, subject="Back in business")
    assert platform.wait_delivered("Back in business")["From"] == address
    assert len(told()) == 2


def test_a_timed_block_refuses_until_its_20_minutes_are_over(platform, customer):
    address = customer.box.address
    platform.send(address, subject=SPAM_SUBJECT, body="Claim now http://bit.ly/x")
    block = platform.wait_blocked("address", address)
    assert block.code == "L-SPAM00"

    code, text = platform.refusal(address)
    assert code == 554 and f"L-SPAM00 <{address}>: sending suspended until" in text
    # The timed block is e-mailed too; the worker holds the block's row while it sends,
    # and the expiry job skips a locked row until its next run: wait for the e-mail.
    assert wait_until(lambda: [m for m in platform.inbox.received if "L-SPAM00" in m["Subject"]])
    # The expiry job one second early lifts nothing; one second late, mail flows again.
    with time_machine.travel(block.ends_at - timedelta(seconds=1)):
        call_command("lift_expired_blocks")
    assert platform.refusal(address)[0] == 554
    with time_machine.travel(block.ends_at + timedelta(seconds=1)):
        call_command("lift_expired_blocks")
    platform.send(address, subject="Sorry, that was not me")
    assert platform.wait_delivered("Sorry, that was not me")


def test_gtube_is_refused_by_rspamd_and_never_relayed(platform, customer):
    code, text = platform.refusal(customer.box.address, subject="GTUBE test", body=GTUBE)

    assert (code, text) == (554, "5.7.1 Gtube pattern")
    assert "milter-reject: END-OF-MESSAGE" in platform.postfix.log()
    assert not platform.delivered("GTUBE test")


def test_a_message_rspamd_rejects_is_recorded_as_rejected_spam_and_blocks(platform, customer):
    address = customer.box.address

    code, text = platform.refusal(address, subject="Hello", X_LWS_Test_Score="20")

    assert (code, text) == (554, "5.7.1 Spam message rejected")
    platform.wait_recorded(address, 1)
    message = OutboundMessage.objects.get(sender=address)
    assert (message.status, message.action, message.is_spam) == ("rejected", "reject", True)
    assert platform.wait_blocked("address", address).code == "L-SPAM00"
    assert message.queue_id and message.queue_id in platform.postfix.log()


def test_a_website_script_of_a_blocked_domain_is_refused_by_rspamd_through_sendmail(
    platform, customer
):
    domain = customer.box.domain.name
    website_spam_at(domain, timezone.now(), 30)  # L-SPAM11: the whole domain
    assert platform.wait_blocked("domain", domain).code == "L-SPAM11"
    shop = f"shop@{domain}"
    raw = f"From: {shop}\nTo: {FRIEND}\nSubject: Your order\n\nThanks!\n"

    platform.postfix.sendmail(shop, [FRIEND], raw.encode())

    bounce = platform.wait_delivered("Undelivered Mail Returned to Sender")
    assert "L-SPAM11: sending suspended until" in bounce.as_string()
    assert not platform.delivered("Your order")
    platform.wait_recorded(shop, 1)
    message = OutboundMessage.objects.get(sender=shop)
    assert (message.status, message.code, message.is_spam) == ("blocked", "L-SPAM11", False)
    assert message.source == "website"


def test_the_shipped_lines_ask_the_policy_service_in_smtpd_and_in_submission():
    postfix = Postfix(milter_port=11332, policy_port=10040, relay_port=2525).configure()
    try:
        main = postfix.postconf("-h", "smtpd_recipient_restrictions")
        service = f"127.0.0.1:{postfix.submission_port}/inet/smtpd_recipient_restrictions"
        submission = postfix.postconf("-hP", service)
    finally:
        postfix.cleanup()

    policy = "check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }"
    assert main.startswith(policy) and "permit_sasl_authenticated" in main
    assert submission.strip() == f"{policy},permit_sasl_authenticated,reject"


def test_a_website_script_sending_as_another_customer_counts_for_its_own_hosting(
    platform, customer
):
    victim = MailboxFactory(
        domain=DomainFactory(name="victim.example"), address="boss@victim.example"
    )
    SystemUserFactory(hosting=customer.box.domain.hosting, uid=5001)
    # PHP's mail() as uid 5001 (the customer's site), the envelope sender forged to B's.
    raw = (
        "X-PHP-Originating-Script: 5001:wp-content/uploads/x.php\n"
        f"From: {victim.address}\nTo: {FRIEND}\nSubject: {SPAM_SUBJECT}\n\n"
        "Claim now http://bit.ly/x\n"
    )

    platform.postfix.sendmail(victim.address, [FRIEND], raw.encode())

    platform.wait_recorded(victim.address, 1)
    message = OutboundMessage.objects.get(sender=victim.address)
    assert (message.source, message.hosting, message.domain) == (
        "website",
        customer.box.domain.hosting,
        customer.box.domain,
    )
    assert message.script == "5001:wp-content/uploads/x.php"
    assert not Block.objects.filter(hosting=victim.domain.hosting).exists()


def test_the_recipient_after_a_mailboxs_hourly_limit_gets_4_7_1_at_the_smtp_client(
    platform, customer
):
    box = customer.box
    MailboxLimit.objects.create(mailbox=box, per_hour=3)
    limits_rebuild()
    for n in range(3):
        platform.send(box.address, subject=f"Order {n}")

    code, text = platform.refusal(box.address, subject="Order 4")

    assert code == 450
    assert text.startswith("4.7.1 ")
    assert f"L-RATE <{box.address}>: hourly limit of 3 recipients reached" in text
    assert "sending resumes at" in text
    for n in range(3):
        platform.wait_delivered(f"Order {n}")
    assert not platform.delivered("Order 4")


def test_a_website_script_over_its_domains_limit_is_held_back_by_rspamd(platform, customer):
    domain = customer.box.domain
    SystemUserFactory(hosting=domain.hosting, uid=5002)
    DomainLimit.objects.create(domain=domain, per_hour=1)
    limits_rebuild()
    shop = f"shop@{domain.name}"

    for n in range(2):
        # PHP's mail() as uid 5002: its header comes before the script's own.
        raw = (
            "X-PHP-Originating-Script: 5002:shop/invoice.php\n"
            f"From: {shop}\nTo: {FRIEND}\nSubject: Invoice {n}\n\nThanks!\n"
        )
        platform.postfix.sendmail(shop, [FRIEND], raw.encode())

    platform.wait_delivered("Invoice 0")
    assert wait_until(lambda: "L-RATE" in platform.postfix.log(), timeout=30), (
        platform.rspamd.output()[-8000:]
    )
    assert not platform.delivered("Invoice 1")


def test_a_mailbox_held_as_compromised_sends_again_once_its_password_is_changed(
    platform, customer, client
):
    box, hosting = customer.box, customer.box.domain.hosting
    # Staff's thresholds: more than 2 recipients in an hour holds this mailbox, which has
    # sent for 20 days (a newer one is never held for volume).
    detection = HoldSettings.load()  # the seeded row, or its defaults after a flush
    detection.volume_floor = 2
    detection.save()
    MailboxBaseline.objects.create(
        mailbox=box,
        hourly=0,
        first_sent_at=timezone.now() - timedelta(days=20),
        computed_at=timezone.now(),
    )
    limits_rebuild()
    for n in range(2):
        platform.send(box.address, subject=f"Note {n}")

    code, text = platform.refusal(box.address, subject="Note 2")

    assert code == 554
    assert text.startswith("5.7.1 ")
    assert text.endswith(
        f"L-HOLD <{box.address}>: sending held, suspected stolen password, change it in the panel"
    )
    # The worker records the hold the policy service started and tells the customer.
    assert wait_until(lambda: Hold.objects.standing().filter(mailbox=box).exists(), timeout=30)

    def told() -> list[EmailMessage]:
        return [m for m in platform.inbox.received if f"[L-HOLD] {box.address}" in m["Subject"]]

    assert wait_until(told, timeout=30), platform.postfix.log()[-3000:]
    assert told()[0]["To"] == "marie@fai.test"

    client.force_login(customer)
    url = reverse("mailbox-password", args=[hosting.pk, box.pk])
    new = "Une phrase de passe toute neuve"
    assert client.post(url, {"password1": new, "password2": new}).status_code == 302

    platform.send(box.address, subject="Note 3")
    platform.wait_delivered("Note 3")
    assert Hold.objects.get(mailbox=box).lift_reason == "password"
