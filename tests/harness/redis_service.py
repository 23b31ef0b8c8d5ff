"""Stop and start the machine's Redis (the broker) for fault tests, as .ci/run starts it."""

from __future__ import annotations

import subprocess
from urllib.parse import urlparse

import redis

from tests.harness.common import wait_for


def _port(url: str) -> int:
    return urlparse(url).port or 6379


def redis_stop(url: str) -> None:
    subprocess.run(
        ["redis-cli", "-p", str(_port(url)), "shutdown", "nosave"], capture_output=True, timeout=30
    )
    wait_for(lambda: not _alive(url), timeout=20, what="redis shutdown")


def redis_start(url: str) -> None:
    if _alive(url):
        return
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            str(_port(url)),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=True,
        timeout=30,
    )
    wait_for(lambda: _alive(url), timeout=20, what="redis")


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.exceptions.ConnectionError:
        return False
