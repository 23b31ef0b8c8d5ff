"""`make run` as a newcomer runs it: self-contained (a Redis of its own on a socket in the
run folder; the Redis in the developer's environment and the machine's are never
touched), honest meters from the first page, and stopped cleanly within 10 seconds by
Ctrl+C or SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import httpx
import pytest
import redis

from tests.harness.common import ROOT, free_port, listening, wait_for
from tests.harness.redis_service import PrivateRedis

pytestmark = pytest.mark.slow


def machine_keys() -> set[bytes]:
    return set(redis.Redis(host="127.0.0.1", port=6379, db=0).keys("lwsmail:*"))


@pytest.fixture
def demo(tmp_path):
    """make run on a free port, its run folder in tmp_path, with REDIS_URL and the broker
    in the environment pointing at a private Redis, as a developer's shell might."""
    elsewhere = PrivateRedis().start()
    before = machine_keys()
    port = free_port()
    run_dir = tmp_path / "run"
    env = {**os.environ, "REDIS_URL": elsewhere.url, "CELERY_BROKER_URL": elsewhere.url}
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}", f"RUN_DIR={run_dir}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: listening(port), timeout=180, what="make run")
        yield proc, port, run_dir, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-KILL", "-f", str(run_dir)], check=False)
        client = redis.Redis.from_url(elsewhere.url)
        touched = client.info("keyspace")
        elsewhere.stop()
        assert touched == {}, "make run wrote into the Redis of the environment"
        assert machine_keys() == before, "make run wrote into the machine's Redis"


def logged_in(port: int, username: str) -> httpx.Client:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True)
    token = client.get("/accounts/login/").cookies["csrftoken"]
    client.post(
        "/accounts/login/",
        data={"username": username, "password": username, "csrfmiddlewaretoken": token},
    )
    return client


def stopped_within(proc: subprocess.Popen, run_dir, seconds: float) -> float:
    started = time.monotonic()
    proc.wait(timeout=seconds + 5)
    while subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True).stdout:
        assert time.monotonic() - started < seconds + 5, "parts of the demo outlived it"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_make_run_serves_the_demo_then_stops_cleanly_within_10_seconds(demo, how):
    proc, port, run_dir, log = demo
    assert (run_dir / "redis.sock").exists() and (run_dir / "port").read_text() == f"{port}\n"

    customer = logged_in(port, "demo")
    addresses = customer.get("/").text
    hosting = re.search(r'href="(/h/\d+/)', addresses).group(1)
    page = customer.get(f"{hosting}addresses/").text
    # The demo's last 24 hours are counted: its meters show what the history lists.
    assert re.search(r"\b[1-9]\d* of \d+", page), page
    assert "use unknown now" not in page
    staff = logged_in(port, "admin")
    dashboard = staff.get("/admin/operations/").text
    assert 'Block state in Redis</th><td><span class="ops-ok">' in dashboard

    if how == "ctrl-c":  # the terminal signals its foreground process group
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
        subprocess.run(["pkill", "-TERM", "-f", f"demo_run --port {port}"], check=False)
    took = stopped_within(proc, run_dir, 10)

    output = log.read_text()
    assert took < 10, output[-3000:]
    assert "Segmentation fault" not in output and "demo stopped" in output
    assert not listening(port)
