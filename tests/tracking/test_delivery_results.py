"""Did my message arrive? Through the real Postfix: Rspamd pushes the message, a receiving
server on the loopback answers 250, 450 and 550 by recipient, the mail-host agent ships
Postfix's own log lines, and the tracking page shows each recipient's status and the
exact reply. Run again, the agent ships nothing twice."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from email.message import EmailMessage

import pytest
from django.urls import reverse
from django.utils import translation

from api.services import api_token_create
from tests.enforcement.test_postfix_end_to_end import customer, platform  # noqa: F401
from tests.factories import UserFactory
from tests.harness.common import ROOT
from tests.workers import wait_until
from tracking.models import Delivery, OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

UNKNOWN = "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"
SLOW = "450 4.7.0 Try again later, rate limited"


def agent(postfix, url: str, key: str, state) -> subprocess.CompletedProcess:
    """`python -m mxagent --once` on the harness Postfix's log, as on a mail host."""
    args = [sys.executable, "-m", "mxagent", "--panel", url, "--host", "mx1.lwsmail.test"]
    args += ["--log", str(postfix.dir / "maillog"), "--state", str(state), "--once"]
    env = {**os.environ, "MXAGENT_TOKEN": key}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_each_recipients_status_reaches_the_tracking_page_with_the_exact_reply(
    platform,  # noqa: F811
    customer,  # noqa: F811
    client,
    live_server,
    tmp_path,
):
    platform.inbox.replies = {"nobody@": UNKNOWN, "busy@": SLOW}
    staff = UserFactory(username="ops", is_staff=True)
    _token, key = api_token_create(
        name="mx1", owner=staff, scopes=["deliveries:write"], created_by=staff
    )
    address = customer.box.address
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = address, "friend@example.org", "Pain de Noël"
    mail.set_content("Commandes pour le réveillon.")
    recipients = ["friend@example.org", "nobody@example.org", "busy@example.org"]
    with platform.postfix.client(login=address) as smtp:
        smtp.send_message(mail, to_addrs=recipients)
    platform.wait_recorded(address, 1)
    log = platform.postfix.log
    assert wait_until(
        lambda: "status=bounced" in log() and "status=deferred" in log() and "status=sent" in log(),
        timeout=60,
    ), log()[-3000:]

    run = agent(platform.postfix, live_server.url, key, tmp_path / "state.json")
    assert run.returncode == 0, run.stderr
    message = OutboundMessage.objects.get(sender=address)
    assert message.queue_id and len(message.queue_id) > 12  # long queue ids, as shipped
    stored = Delivery.objects.filter(queue_id=message.queue_id)
    assert sorted(stored.values_list("recipient", "status", "dsn")) == [
        ("busy@example.org", "deferred", "4.7.0"),
        ("friend@example.org", "delivered", "2.0.0"),
        ("nobody@example.org", "bounced", "5.1.1"),
    ]

    hosting = customer.box.domain.hosting
    with translation.override("en"):  # marie reads French; it must not outlive the page
        client.post("/accounts/login/", {"username": "marie", "password": "pw-for-tests"})
        page = client.get(reverse("message", args=[hosting.pk, message.pk])).content.decode()
    text = html.unescape(page)
    assert UNKNOWN in text and SLOW in text
    for status in ("delivered", "deferred", "bounced"):
        assert f'class="delivery-{status}"' in page

    again = agent(platform.postfix, live_server.url, key, tmp_path / "state.json")
    assert again.returncode == 0, again.stderr
    # Only what Postfix logged since (the bounce notice to the sender, say), nothing twice.
    assert "0 already there" in again.stdout, again.stdout
    assert stored.count() == 3


def test_the_agent_stops_with_a_clear_message_when_its_token_is_refused(live_server, tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(
        "Dec  7 16:00:01 mx1 postfix/smtp[1]: ABCDEF123: to=<a@b.example>, "
        "dsn=2.0.0, status=sent (250 ok)\n"
    )
    args = [sys.executable, "-m", "mxagent", "--panel", live_server.url, "--log", str(log)]
    args += ["--state", str(tmp_path / "state.json"), "--once"]
    env = {**os.environ, "MXAGENT_TOKEN": "lws_not-a-token"}
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "the panel refused this agent: 401" in run.stderr
    assert not (tmp_path / "state.json").exists()  # its place is not moved past unsent lines
    missing = subprocess.run(
        [sys.executable, "-m", "mxagent", "--panel", live_server.url, "--log", str(log)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "MXAGENT_TOKEN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "MXAGENT_TOKEN" in missing.stderr
