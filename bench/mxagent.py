"""The mail-host agent against a running panel: a real-shaped Postfix log of 10^5 lines
(deliveries of every status, the other daemons' lines, garbage, a rotation half-way),
parsed by `python -m mxagent --once` on one core and shipped to gunicorn as deployed,
which stores them. Prints the agent's lines per second (wall time of the whole run, the
panel's storing included) and how many of the delivery lines it shipped were stored.

  make bench-mxagent
  make bench-mxagent BENCH_ARGS="--lines 100000"
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import time

import httpx
from common import ROOT, process, recreate_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/lwsmail_bench_mxagent"
STATUSES = [
    ("sent", "2.0.0", "250 2.0.0 Ok: queued as {q}"),
    (
        "deferred",
        "4.7.0",
        "host mx[192.0.2.1] said: 421 4.7.0 Try again later (in reply to RCPT TO)",
    ),
    ("bounced", "5.1.1", "host mx[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO)"),
]


def log_lines(count: int, rng: random.Random) -> tuple[list[str], int]:
    """`count` lines as a busy host logs them, and how many are delivery results."""
    lines, results = [], 0
    for n in range(count):
        qid = f"4dQ{n:011d}"
        stamp = f"Dec  7 16:{(n // 60) % 60:02d}:{n % 60:02d}"
        kind = rng.random()
        if kind < 0.45:
            status, dsn, reply = rng.choice(STATUSES)
            lines.append(
                f"{stamp} mx1 postfix/smtp[{n % 900}]: {qid}: to=<r{n}@example.org>, "
                f"relay=mx.example.org[192.0.2.1]:25, delay=0.4, delays=0.1/0/0.1/0.2, "
                f"dsn={dsn}, status={status} ({reply.format(q=qid)})"
            )
            results += 1
        elif kind < 0.75:
            lines.append(
                f"{stamp} mx1 postfix/qmgr[7]: {qid}: from=<s{n}@shop.example>, size=2, "
                "nrcpt=1 (queue active)"
            )
        elif kind < 0.9:
            lines.append(
                f"{stamp} mx1 postfix/smtpd[8]: {qid}: client=unknown[198.51.100.{n % 250}]"
            )
        elif kind < 0.97:
            lines.append(f"{stamp} mx1 dovecot: imap-login: Login: user=<u{n}@example.org>")
        else:
            lines.append("".join(rng.choice("abc=<>()[] \x00é") for _ in range(rng.randrange(80))))
    return lines, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()

    recreate_database(args.db)
    env = setup_django(
        args.db,
        REDIS_URL=args.redis,
        CELERY_BROKER_URL=args.redis,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    from api.services import api_token_create
    from tests.factories import UserFactory
    from tests.harness.common import free_port
    from tracking.models import Delivery

    staff = UserFactory(username="bench-ops", is_staff=True)
    _token, key = api_token_create(
        name="mx1", owner=staff, scopes=["deliveries:write"], created_by=staff
    )
    work = ROOT / ".run" / "bench-mxagent"
    work.mkdir(parents=True, exist_ok=True)
    log, state = work / "mail.log", work / "state.json"
    state.unlink(missing_ok=True)
    lines, results = log_lines(args.lines, random.Random(27))
    half = len(lines) // 2
    for stale in (log, work / "mail.log.1"):
        stale.unlink(missing_ok=True)
    # The agent last stopped at the start of the log, which was then rotated (mail.log.1)
    # and a new mail.log begun: it reads the rotated one to its end, then the new one.
    log.write_text("\n".join(lines[:half]) + "\n")
    state.write_text(f'{{"inode": {log.stat().st_ino}, "offset": 0}}')
    log.rename(work / "mail.log.1")
    log.write_text("\n".join(lines[half:]) + "\n")

    port = free_port()
    web = [
        *(str(ROOT / ".venv/bin/gunicorn"), "lwsmail.wsgi", "--bind", f"127.0.0.1:{port}"),
        *("--config", str(ROOT / "gunicorn.conf.py"), "--access-logfile", "/dev/null"),
    ]
    with process(web, env=env, log=work / "web.log"):
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError((work / "web.log").read_text()) from None
                time.sleep(0.2)
        agent = [sys.executable, "-m", "mxagent", "--panel", f"http://127.0.0.1:{port}"]
        agent += ["--log", str(log), "--state", str(state), "--once", "--host", "mx1"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        run = subprocess.run(
            ["taskset", "-c", "0", *agent],
            cwd=ROOT,
            env={**env, "MXAGENT_TOKEN": key},
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode:
        raise SystemExit(run.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stored = Delivery.objects.count()
    print(run.stdout.strip().splitlines()[-1])
    print(
        f"{len(lines)} lines ({results} delivery results) in {elapsed:.2f} s; agent CPU {cpu:.2f} s"
    )
    print(f"agent lines per second: {len(lines) / elapsed:.0f}")
    print(f"delivery lines stored/shipped: {stored / results:.2f}")


if __name__ == "__main__":
    main()
