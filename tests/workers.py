"""Start real Celery workers against the test database and the test Redis."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.harness.common import background


def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.REDIS_URL,
        "RSPAMD_URL": settings.RSPAMD_URL,
        "EMAIL_BACKEND": settings.EMAIL_BACKEND,
        "EMAIL_HOST": settings.EMAIL_HOST,
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "SITE_URL": settings.SITE_URL,
        "WEBHOOK_ALLOWED_NETWORKS": ",".join(settings.WEBHOOK_ALLOWED_NETWORKS),
    }


def pipe_env() -> dict[str, str]:
    """worker_env's settings a command Postfix's pipe runs needs, as words without spaces
    (master.cf splits its argv on white space)."""
    env = worker_env()
    keys = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY")
    return {
        **{k: env[k] for k in keys if env.get(k)},
        "MESSAGE_REFERENCE_KEY": settings.MESSAGE_REFERENCE_KEY,
        "WEBHOOK_ALLOWED_NETWORKS": env["WEBHOOK_ALLOWED_NETWORKS"],
    }


def celery_worker(*, concurrency: int = 1, log: Path | None = None, queues: str = ""):
    """A `celery worker` process against the test database, stopped when the block ends."""
    args = [sys.executable, "-m", "celery", "-A", "lwsmail", "worker"]
    args += [f"--concurrency={concurrency}", "--pool=prefork", "--loglevel=INFO"]
    args += [f"--queues={queues}"] if queues else []
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return background(args, env=worker_env(), log=log or Path(os.devnull))


def wait_until(check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
