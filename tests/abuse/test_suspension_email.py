"""Suspension e-mails through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from abuse.models import Block, PolicySettings
from abuse.notifications import NOTIFY_GRACE, block_notify, blocks_notify_pending
from abuse.services import block_lift
from tests.abuse.helpers import spam_at, standing
from tests.factories import UserFactory
from tests.harness.common import free_port
from tests.harness.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_server(settings):
    sink = SmtpSink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.SITE_URL = "https://panel.example.net"
    with sink as inbox:
        yield inbox


def suspend(mailbox, language: str) -> Block:
    account = mailbox.domain.hosting.customer
    account.language = language
    account.save()
    spam_at(mailbox.address, timezone.now() - timedelta(hours=1), 40)
    return standing(mailbox.address)


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Sending from"), ("fr", "L’envoi depuis"), ("it", "L’invio da")],
)
def test_a_suspension_mails_the_contact_once_in_their_language(
    smtp_server, mailbox, language, words
):
    block = suspend(mailbox, language)
    assert block.code == "L-SPAM20"

    assert block_notify(block_id=block.pk) is True
    assert block_notify(block_id=block.pk) is False  # a retried task sends nothing more

    assert len(smtp_server.received) == 1
    mail = smtp_server.received[0]
    account = mailbox.domain.hosting.customer
    assert mail["To"] == account.contact_email
    assert "L-SPAM20" in mail["Subject"] and mailbox.address in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert words in text and words in html
    link = f"https://panel.example.net/h/{mailbox.domain.hosting_id}/abuse/"
    assert link in text and link in html
    assert mail["Message-ID"] == f"<suspension-{block.pk}@lwsmail.invalid>"


def test_a_timed_block_mails_its_end_and_the_password_change_first(smtp_server, mailbox):
    spam_at(mailbox.address, timezone.now())  # L-SPAM00 for 20 minutes
    block = standing(mailbox.address)

    assert block_notify(block_id=block.pk) is True

    [mail] = smtp_server.received
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "[L-SPAM00]" in mail["Subject"]
    assert f"Sending from {mailbox.address} is suspended until" in text
    assert "Change its password first" in text and "mail abuse" not in text


def test_staff_can_turn_a_tiers_email_off(smtp_server, mailbox):
    from abuse.models import PolicyTier

    PolicyTier.objects.filter(code="L-SPAM00").update(notify_customer=False)
    spam_at(mailbox.address, timezone.now())

    assert block_notify(block_id=standing(mailbox.address).pk) is False
    assert smtp_server.received == []


def test_blocks_started_by_the_same_message_go_in_one_email(smtp_server, mailbox):
    block = suspend(mailbox, "en")  # the 40th spam: L-SPAM20, and its domain's L-SPAM11
    domain_block = standing(mailbox.domain.name)
    assert (block.started_at, domain_block.code) == (domain_block.started_at, "L-SPAM11")

    assert block_notify(block_id=block.pk) is True
    assert block_notify(block_id=domain_block.pk) is False

    [mail] = smtp_server.received
    assert "L-SPAM20, L-SPAM11" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert mailbox.address in text and mailbox.domain.name in text


@pytest.mark.parametrize(("offset", "sent"), [(-1, False), (1, True)])
def test_one_email_per_address_and_code_per_24_hours_to_the_second(
    smtp_server, mailbox, offset, sent
):
    import time_machine

    first_at = timezone.now() - timedelta(days=2)
    spam_at(mailbox.address, first_at)
    with time_machine.travel(first_at, tick=False):
        assert block_notify(block_id=standing(mailbox.address).pk) is True
    again = first_at + timedelta(hours=24, seconds=offset)
    spam_at(mailbox.address, again)  # the first L-SPAM00 ended long ago: a new one starts
    second = standing(mailbox.address)

    with time_machine.travel(again, tick=False):
        assert block_notify(block_id=second.pk) is sent

    assert len(smtp_server.received) == 1 + sent
    second.refresh_from_db()
    assert second.notified_at == (again if sent else first_at)  # told then, either way


def test_a_block_already_over_is_not_mailed(smtp_server, mailbox):
    spam_at(mailbox.address, timezone.now() - timedelta(hours=1))  # ended 40 minutes ago

    assert block_notify(block_id=standing(mailbox.address).pk) is False
    assert smtp_server.received == []


def test_an_smtp_failure_leaves_the_block_to_notify_again(settings, mailbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    block = suspend(mailbox, "en")

    with pytest.raises(OSError):
        block_notify(block_id=block.pk)

    block.refresh_from_db()
    assert block.notified_at is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_block_queues_its_email_and_a_real_worker_sends_it_once(
    smtp_server, mailbox, redis_client, tmp_path
):
    from tests.workers import celery_worker, wait_until

    redis_client.flushdb()
    with celery_worker(log=tmp_path / "worker.log"):
        # One commit, as one ingest batch: committed one by one, the worker could mail the
        # L-SPAM10 of the 20th spam before the 40th replaces it, which is a second e-mail.
        with transaction.atomic():
            block = suspend(mailbox, "fr")
        assert wait_until(lambda: len(smtp_server.received) == 1, timeout=30), (
            tmp_path / "worker.log"
        ).read_text()[-2000:]
        # The task again, as a redelivery would: still one e-mail.
        from abuse.tasks import notify_block

        notify_block.delay(block.pk)
        wait_until(lambda: False, timeout=3)

    assert len(smtp_server.received) == 1
    assert "Envoi suspendu" in smtp_server.received[0]["Subject"]
    block.refresh_from_db()
    assert block.notified_at is not None


def test_the_pending_sweep_sends_what_the_task_never_sent_once_after_15_minutes(
    smtp_server, mailbox, capsys
):
    block = suspend(mailbox, "en")  # its task never ran: no on_commit in this test
    grace_over = block.started_at + NOTIFY_GRACE

    assert blocks_notify_pending(now=grace_over - timedelta(seconds=1)) == 0
    assert blocks_notify_pending(now=grace_over) == 1
    call_command("notify_pending_blocks")

    assert "0 suspension e-mail(s) sent." in capsys.readouterr().out
    assert len(smtp_server.received) == 1
    block.refresh_from_db()
    assert block.notified_at is not None


def test_the_pending_sweep_leaves_lifted_blocks_alone(smtp_server, mailbox):
    block = suspend(mailbox, "en")
    staff = UserFactory(is_staff=True)
    block_lift(block=block, user=staff)
    block_lift(block=standing(mailbox.domain.name), user=staff)  # its domain's L-SPAM11

    assert blocks_notify_pending() == 0
    assert smtp_server.received == []


def test_the_pending_command_says_when_the_smtp_server_is_unreachable(settings, mailbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    suspend(mailbox, "en")

    with pytest.raises(CommandError, match="SMTP server unreachable"):
        call_command("notify_pending_blocks")


@pytest.mark.parametrize(("offset", "sent"), [(-1, False), (1, True)])
def test_the_quiet_period_is_the_one_staff_set_to_the_second(smtp_server, mailbox, offset, sent):
    import time_machine

    policy = PolicySettings.load()
    policy.notify_quiet_period = timedelta(hours=2)
    policy.save()
    first_at = timezone.now() - timedelta(days=2)
    spam_at(mailbox.address, first_at)
    with time_machine.travel(first_at, tick=False):
        assert block_notify(block_id=standing(mailbox.address).pk) is True
    again = first_at + timedelta(hours=2, seconds=offset)
    spam_at(mailbox.address, again)  # L-SPAM00 lasts 20 minutes: a new one starts

    with time_machine.travel(again, tick=False):
        assert block_notify(block_id=standing(mailbox.address).pk) is sent

    assert len(smtp_server.received) == 1 + sent
