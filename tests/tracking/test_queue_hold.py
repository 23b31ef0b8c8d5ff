"""Why did spam still leave after the block? It does not: through the real Postfix, 50
messages of a sender sit deferred (the receiving server answers 450) when its block
starts; the mail-host agent holds them (postsuper -h, seen in postqueue -j), none leaves
while the block stands even once the receiver accepts, the Mail Abuse page lists them,
and when staff lift the block they are released and delivered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from abuse.models import Block
from abuse.services import block_lift
from api.services import api_token_create
from tests.abuse.helpers import spam_at, standing
from tests.enforcement.test_postfix_end_to_end import customer, platform  # noqa: F401
from tests.factories import UserFactory
from tests.harness.common import ROOT
from tests.workers import wait_until
from tracking.models import QueuedMessage
from tracking.queue import queue_delete_request

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SLOW = "450 4.7.0 Try again later, rate limited"
COUNT = 50


def queue(postfix) -> list[dict]:
    out = subprocess.run(
        ["postqueue", "-c", str(postfix.conf), "-j"], capture_output=True, text=True, check=True
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def agent(postfix, url: str, key: str, tmp_path) -> subprocess.CompletedProcess:
    """One pass of `python -m mxagent --queue`, as on the mail host (root here: no sudo)."""
    args = [sys.executable, "-m", "mxagent", "--panel", url, "--host", "mx1.lwsmail.test"]
    args += ["--log", str(postfix.dir / "maillog"), "--state", str(tmp_path / "state.json")]
    args += ["--queue", "--postfix-config", str(postfix.conf), "--once"]
    env = {**os.environ, "MXAGENT_TOKEN": key}
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run


def test_a_block_holds_the_senders_queued_mail_until_it_ends(
    platform,  # noqa: F811
    customer,  # noqa: F811
    client,
    live_server,
    tmp_path,
):
    staff = UserFactory(username="ops", is_staff=True)
    _token, key = api_token_create(
        name="mx1", owner=staff, scopes=["deliveries:write"], created_by=staff
    )
    platform.inbox.replies = {"busy@": SLOW}
    address = customer.box.address
    with platform.postfix.client(login=address) as smtp:
        for n in range(COUNT):
            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = address, "busy@example.org", f"Offre {n}"
            mail.set_content("Promotion de Noël")
            smtp.send_message(mail)
    log = platform.postfix.log
    assert wait_until(lambda: log().count("status=deferred") >= COUNT, timeout=120), log()[-3000:]

    # The provider's postmaster held one by hand: the agent never releases that one.
    by_hand = queue(platform.postfix)[0]["queue_id"]
    subprocess.run(["postsuper", "-c", str(platform.postfix.conf), "-h", by_hand], check=True)

    # The block starts (the 40th spam in 7 days: L-SPAM20, until unblocked).
    spam_at(address, timezone.now(), 40)
    assert standing(address).code == "L-SPAM20"
    agent(platform.postfix, live_server.url, key, tmp_path)
    held = [m for m in queue(platform.postfix) if m["sender"] == address]
    assert len(held) == COUNT and {m["queue_name"] for m in held} == {"hold"}
    assert QueuedMessage.objects.filter(sender=address).count() == COUNT - 1

    # Staff delete one from the admin: gone from the queue at the agent's next pass.
    spam = QueuedMessage.objects.filter(sender=address).first()
    assert queue_delete_request(messages=QueuedMessage.objects.filter(pk=spam.pk), user=staff) == 1
    agent(platform.postfix, live_server.url, key, tmp_path)
    assert spam.queue_id not in {m["queue_id"] for m in queue(platform.postfix)}
    assert QueuedMessage.objects.filter(sender=address).count() == COUNT - 2

    # The receiver would take them now: still none leaves while the block stands.
    platform.inbox.replies = {}
    subprocess.run(["postqueue", "-c", str(platform.postfix.conf), "-f"], check=True)
    time.sleep(3)
    assert not [m for m in platform.inbox.received if m["To"] == "busy@example.org"]

    with translation.override("en"):  # marie reads French; it must not outlive the page
        client.post("/accounts/login/", {"username": "marie", "password": "pw-for-tests"})
        page = client.get(reverse("mail-abuse", args=[customer.box.domain.hosting_id]))
    text = page.content.decode()
    # Each message the agent holds, by its subject (which ones: postqueue's order decides).
    subjects = list(QueuedMessage.objects.filter(sender=address).values_list("subject", flat=True))
    assert len(subjects) == COUNT - 2 and all(s.startswith("Offre ") for s in subjects)
    assert 'id="queued"' in text and "busy@example.org" in text
    assert all(f"<td>{subject}</td>" in text for subject in subjects)

    # Its domain was blocked too (40 spam count for the domain's tiers): both are lifted.
    standing_blocks = list(Block.objects.unlifted().filter(hosting=customer.box.domain.hosting))
    assert {b.target for b in standing_blocks} == {address, "boulangerie.example"}
    for block in standing_blocks:
        assert block_lift(block=block, user=staff, note="cleaned up")
    released = agent(platform.postfix, live_server.url, key, tmp_path)
    assert wait_until(
        lambda: (
            len([m for m in platform.inbox.received if m["To"] == "busy@example.org"]) >= COUNT - 2
        ),
        timeout=120,
    ), released.stderr + log()[-5000:]
    left = [m for m in queue(platform.postfix) if m["sender"] == address]
    assert [(m["queue_id"], m["queue_name"]) for m in left] == [(by_hand, "hold")]
    agent(platform.postfix, live_server.url, key, tmp_path)
    assert not QueuedMessage.objects.filter(sender=address).exists()
