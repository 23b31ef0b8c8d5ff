"""The mail-host agent killed (SIGKILL) while shipping a log and started again: every
delivery result stored exactly once, at most one batch sent twice (the one in flight,
which the panel stores once)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from api.services import api_token_create
from tests.factories import UserFactory
from tests.harness.common import ROOT
from tests.workers import wait_until
from tracking.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


def test_killed_mid_log_and_restarted_it_loses_and_stores_twice_nothing(live_server, tmp_path):
    staff = UserFactory(username="ops", is_staff=True)
    _token, key = api_token_create(
        name="mx1", owner=staff, scopes=["deliveries:write"], created_by=staff
    )
    lines = []
    for n in range(30_000):
        stamp = f"Dec  7 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}"
        lines.append(
            f"{stamp} mx1 postfix/smtp[1]: 4dQ{n:011d}: to=<r{n}@example.org>, "
            "relay=mx.example.org[192.0.2.1]:25, delay=0.3, dsn=2.0.0, status=sent (250 ok)"
        )
        lines.append(f"{stamp} mx1 postfix/qmgr[7]: 4dQ{n:011d}: removed")
    log, state = tmp_path / "mail.log", tmp_path / "state.json"
    log.write_text("\n".join(lines) + "\n")
    args = [sys.executable, "-m", "mxagent", "--panel", live_server.url, "--host", "mx1"]
    args += ["--log", str(log), "--state", str(state)]
    env = {**os.environ, "MXAGENT_TOKEN": key}

    agent = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: Delivery.objects.count() >= 2000, timeout=120)
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait()
    at_kill = Delivery.objects.count()
    assert 0 < at_kill < 30_000, at_kill  # killed mid-log

    again = subprocess.run(
        [*args, "--once"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert Delivery.objects.count() == 30_000
    assert Delivery.objects.values("queue_id").distinct().count() == 30_000
    twice = int(re.search(r"(\d+) already there", again.stdout).group(1))
    assert twice <= 500  # at most the batch in flight when it was killed
