"""A Redis of the test's own, on a free loopback port, for the tests that stop and start it:
the machine's own Redis is never touched."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.harness.common import free_port, require_binary, wait_for


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lws-redis-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def alive(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.exceptions.ConnectionError:
            return False

    def start(self) -> PrivateRedis:
        """Start it (empty: it keeps nothing on disk), on the same port every time."""
        subprocess.run(
            [
                require_binary("redis-server", "redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.dir / "redis.pid"),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            check=True,
            timeout=30,
        )
        wait_for(self.alive, timeout=20, what=f"private redis on {self.port}")
        return self

    def stop(self) -> None:
        if self.alive():
            subprocess.run(
                [
                    require_binary("redis-cli", "redis-tools"),
                    "-p",
                    str(self.port),
                    "shutdown",
                    "nosave",
                ],
                capture_output=True,
                timeout=30,
            )
        wait_for(lambda: not self.alive(), timeout=20, what="private redis shutdown")

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.cleanup()


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """This process's Celery app (the live server's ingest endpoint) publishes to `url`."""
    from lwsmail.celery import app

    def reset() -> None:
        # The connection and producer pools are built once from the broker URL.
        app._pool = None
        app.amqp._producer_pool = None

    old = app.conf.broker_url
    app.conf.broker_url = url
    reset()
    try:
        yield
    finally:
        app.conf.broker_url = old
        reset()
