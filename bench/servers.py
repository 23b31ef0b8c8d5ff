"""bench/ingest.py's servers: gunicorn and the Celery worker as deployed, and gunicorn's own
floor (a no-op application)."""

from __future__ import annotations

import argparse
import base64
import time
from pathlib import Path

import httpx
from common import ROOT, process
from load import cpu_by_role, cpu_ms_per_message, run_parallel
from pushes import push_headers

PASSWORD = "bench-ingest-password"


# Each access log line: the mark, the path, the time inside the server in µs.
ACCESS_MARK = "lwsaccess /api/ingest/"


def web_command(port: int, workers: int, work: Path, app: str = "lwsmail.wsgi") -> list[str]:
    """gunicorn as deployed (gunicorn.conf.py) with `workers` processes, logging each
    request's time inside the server (µs) to work/access.log."""
    return [
        *(str(ROOT / ".venv/bin/gunicorn"), app, "--bind", f"127.0.0.1:{port}"),
        *("--pythonpath", str(ROOT / "bench")),
        *("--config", str(ROOT / "gunicorn.conf.py"), "--workers", str(workers)),
        *("--access-logfile", str(work / "access.log")),
        *("--access-logformat", "lwsaccess %(U)s %(D)s"),
    ]


def worker_command(args: argparse.Namespace) -> list[str]:
    # As deployed (docker-compose, docs/deploying.md): recording runs at a lower CPU priority than
    # the acknowledgements Rspamd and the MTA wait for.
    return [
        *("nice", "-n", str(args.worker_nice), str(ROOT / ".venv/bin/celery")),
        *("-A", "lwsmail", "worker", "--loglevel=WARNING"),
        *(f"--concurrency={args.worker_concurrency}", "--without-gossip", "--without-mingle"),
    ]


def wait_listening(port: int, folder: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError((folder / "web.log").read_text()) from None
            time.sleep(0.2)


def server_floor(
    args: argparse.Namespace, items: list, verdicts: list, work: Path, env: dict
) -> float:
    """gunicorn's CPU per push as deployed, serving an application that only reads the
    body (bench/noop_wsgi.py), the same pushes sent the same way: what the web server
    costs before the panel does anything."""
    from tests.harness.common import free_port

    folder = work / "floor"
    folder.mkdir()
    port = free_port()
    command = web_command(port, args.web_workers, folder, app="noop_wsgi:application")
    with process(command, env=env, log=folder / "web.log"):
        wait_listening(port, folder)
        url = f"http://127.0.0.1:{port}/api/ingest/rspamd/"
        authorization = "Basic " + base64.b64encode(f"rspamd:{PASSWORD}".encode()).decode()
        pairs = [
            {**push_headers(item, v, "N"), "Authorization": authorization}
            for item, v in zip(items, verdicts, strict=True)
        ]

        def post(client: httpx.Client, n: int) -> None:
            client.post(url, content=items[n]["raw"], headers=pairs[n]).raise_for_status()

        run_parallel(post, range(min(300, len(items))), args.push_concurrency, url)
        before: dict[str, float] = {}
        run_parallel(
            post,
            range(len(items)),
            args.push_concurrency,
            url,
            lambda: before.update(cpu_by_role()),
        )
        return cpu_ms_per_message(before, len(items)).get("web (gunicorn)", 0.0)
