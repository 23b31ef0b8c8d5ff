"""`make run`: the whole demo under one process that starts every part and stops them all.

A shell trap used to do it (`trap 'kill 0' EXIT INT TERM`): its own SIGTERM ran the trap
again until the shell overflowed ("Segmentation fault"), and Celery, sent thousands of
signals, needed another one to go. Here each part runs in its own process group, is sent
one SIGTERM, and is killed if it has not stopped within the grace."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from abuse.services import blockstate_rebuild
from limits.state import counters_replay, limits_rebuild

# Every part stopped within this, Celery's warm shutdown included (make run's promise).
STOP_WITHIN = 10.0


class Command(BaseCommand):
    help = (
        "Demo (make run): a private Redis on a socket in the run folder, the demo database, "
        "then the Celery worker with beat and the web server, until Ctrl+C or SIGTERM; then "
        f"every part is stopped within {STOP_WITHIN:.0f} seconds. Touches nothing outside "
        "the run folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="the web server's port")
        parser.add_argument(
            "--no-serve", action="store_true", help="load the demo, then stop (make demo)"
        )

    def handle(self, *args, port: int, no_serve: bool, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_run is for a laptop (DJANGO_DEBUG=1).")
        if not 1 <= port <= 65535:
            raise CommandError(f"--port must be from 1 to 65535, not {port}")
        socket_path = _socket_path(settings.REDIS_URL)
        run_dir = socket_path.parent
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "port").write_text(f"{port}\n")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        parts: list[tuple[str, subprocess.Popen]] = []
        try:
            parts.append(("redis", _start_redis(socket_path, run_dir)))
            call_command("migrate", interactive=False, verbosity=0)
            call_command("demo_load", stdout=self.stdout)
            # The state the beat jobs keep, at once: blocks and limits for the policy
            # service, and the last 24 hours counted, so the meters show what was sent.
            blockstate_rebuild()
            limits_rebuild()
            counters_replay()
            if no_serve or stop.is_set():
                return
            parts.append(("worker", _start(_worker_args(run_dir), run_dir)))
            parts.append(("web", _start(_web_args(port), run_dir)))
            self.stdout.write(
                f"lwsmail demo on http://127.0.0.1:{port}/  (customer demo/demo, "
                "staff admin/admin); Ctrl+C stops it"
            )
            while not stop.wait(0.5):
                for name, proc in parts:
                    if proc.poll() is not None:
                        raise CommandError(f"the demo's {name} stopped ({proc.returncode})")
        finally:
            _stop_all(parts)
            self.stdout.write("demo stopped")


def _socket_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme != "unix" or not parts.path:
        raise CommandError(
            f"demo_run starts a Redis of its own: REDIS_URL must be unix://<run folder>/"
            f"redis.sock, not {url!r} (make run sets it)."
        )
    return Path(parts.path)


def _start(args: list[str], run_dir: Path) -> subprocess.Popen:
    # Its own process group: the terminal's Ctrl+C reaches this process only, which then
    # stops each part once.
    return subprocess.Popen(args, cwd=settings.BASE_DIR, start_new_session=True)


def _start_redis(socket_path: Path, run_dir: Path) -> subprocess.Popen:
    server = shutil.which("redis-server")
    if server is None:
        raise CommandError(
            "make run starts a private Redis and needs redis-server "
            "(Debian and Ubuntu: apt install redis-server; macOS: brew install redis)."
        )
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    proc = _start(
        [
            server,
            *("--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"),
            *("--save", "", "--appendonly", "no", "--dir", str(run_dir)),
            *("--logfile", str(run_dir / "redis.log")),
        ],
        run_dir,
    )
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if client.ping():
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    _stop_all([("redis", proc)])
    raise CommandError(f"the demo's Redis did not start: see {run_dir / 'redis.log'}")


def _worker_args(run_dir: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "celery", "-A", "lwsmail", "worker", "--beat"),
        *("--loglevel=INFO", "--concurrency=2", f"--schedule={run_dir / 'celerybeat-schedule'}"),
    ]


def _web_args(port: int) -> list[str]:
    return [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"]


def _stop_all(parts: list[tuple[str, subprocess.Popen]]) -> None:
    """One SIGTERM to each part (Redis last: the others use it while they stop), then
    SIGKILL to whatever is left of its process group when the grace is over. Celery's main
    process stops its own pool (signalled too, the pool would die mid-task); the web
    server's autoreloader child gets it with its parent, which would leave it running."""
    deadline = time.monotonic() + STOP_WITHIN - 1
    for group in (
        [(n, p) for n, p in parts if n != "redis"],
        [(n, p) for n, p in parts if n == "redis"],
    ):
        for name, proc in group:
            with contextlib.suppress(ProcessLookupError):
                if name == "web":
                    os.killpg(proc.pid, signal.SIGTERM)
                else:
                    proc.send_signal(signal.SIGTERM)
        for _name, proc in group:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group: pool children included
            proc.wait()
