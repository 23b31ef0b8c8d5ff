"""Dovecot's auth policy under the load of 1,000 logins a second: the daemon as deployed
(`manage.py authpolicyd`, deploy/dovecot/lwsmail-policy.conf) and a Celery worker with
beat recording the access log, against 10^5 mailboxes and 10^6 attempts already stored.

Each login is what Dovecot sends: a POST ?command=allow before it, a POST ?command=report
after it (a tenth of them failures, from a thousand client addresses). The logins are
paced at the goal rate from one asyncio client with many connections; each request's
latency is measured from the moment it was due, so a stall that delays later requests
counts for them. Three rounds; the p99 printed is their median. Afterwards: how long the
worker took to store them all, and how many of the reports answered 200 it stored.

  make bench-authpolicy
  make bench-authpolicy BENCH_ARGS="--rate 1000 --seconds 20 --stored 1000000"
  make bench-authpolicy BENCH_ARGS="--web"   # the web's /api/authpolicy/ instead
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path

import httpx
import uvloop
from common import ROOT, mailboxes_load, process, quantile, recreate_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/lwsmail_bench_authpolicy"
TOKEN = "bench-authpolicy-token"


def load(mailboxes: int, stored: int) -> None:
    """10^5 mailboxes over 1,000 domains and `stored` attempts over the last 80 days."""
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from mailaccess.partitions import ATTEMPTS
    from tracking.partitions import partitions_cover

    now = datetime.now(UTC)
    partitions_cover(scheme=ATTEMPTS, moments=ATTEMPTS.starts(now - timedelta(days=81), now))
    mailboxes_load(count=mailboxes, hostings=100, password_hash="{BLF-CRYPT}x")
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO mailaccess_accessattempt
                 (uid, at, login, mailbox_id, hosting_id, protocol, client_ip, result, reason)
               SELECT md5('a' || g), now() - (g %% 6912000) * interval '1 second',
                      m.address, m.id, d.hosting_id, 'imap',
                      ('198.51.' || (g %% 250) || '.' || (g %% 200))::inet,
                      CASE WHEN g %% 10 = 0 THEN 'wrong_password' ELSE 'success' END, ''
                 FROM generate_series(0, %s - 1) g
                 JOIN lwsmail_mailbox m ON m.id = (SELECT min(id) FROM lwsmail_mailbox) + g %% %s
                 JOIN lwsmail_domain d ON d.id = m.domain_id""",
            [stored, mailboxes],
        )
        cur.execute("VACUUM ANALYZE")


async def run(port: int, *, rate: int, seconds: int, mailboxes: int, connections: int) -> dict:
    """Paced logins over `connections` keep-alive HTTP/1.1 connections (plain asyncio
    streams: an HTTP client library costs more CPU per request than the server answering)."""
    rng = random.Random(29)
    latencies: dict[str, list[float]] = {"allow": [], "report": []}
    errors = reported = 0
    total = rate * seconds
    start = time.perf_counter() + 0.5
    schedule: asyncio.Queue[tuple[float, int]] = asyncio.Queue()
    for n in range(total):
        schedule.put_nowait((start + n / rate, n))

    def request(command: str, body: dict) -> bytes:
        payload = json.dumps(body).encode()
        return (
            f"POST /api/authpolicy/?command={command} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload

    async def answer(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        return status

    async def connection() -> None:
        nonlocal errors, reported
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            try:
                due, n = schedule.get_nowait()
            except asyncio.QueueEmpty:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            box = rng.randrange(mailboxes)
            body = {
                "login": f"box{box}@d{box % 1000}.bench.example",
                "remote": f"203.0.{n % 250}.{(n // 250) % 4}",
                "protocol": "imap",
            }
            for command in ("allow", "report"):
                if command == "report":
                    body |= {"success": n % 10 != 0, "policy_reject": False}
                    due = time.perf_counter()
                writer.write(request(command, body))
                if await answer(reader) != 200:
                    errors += 1
                elif command == "report":
                    reported += 1
                latencies[command].append(time.perf_counter() - due)
        writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    return {
        "latencies": latencies,
        "errors": errors,
        "reported": reported,
        "elapsed": elapsed,
        "logins": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=1000, help="logins a second")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument(
        "--web", action="store_true", help="the web's endpoint (gunicorn) instead of the daemon"
    )
    args = parser.parse_args()

    import logging

    import redis

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    recreate_database(args.db)
    env = setup_django(
        args.db,
        AUTHPOLICY_TOKEN=TOKEN,
        REDIS_URL=args.redis,
        CELERY_BROKER_URL=args.redis,
        DJANGO_INTERNAL_HOSTS="127.0.0.1",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    redis.Redis.from_url(args.redis).flushdb()
    started = time.perf_counter()
    load(args.mailboxes, args.stored)
    print(
        f"{args.mailboxes} mailboxes, {args.stored} attempts stored "
        f"({time.perf_counter() - started:.0f} s to load)"
    )
    from tests.harness.common import free_port

    port = free_port()
    work = Path(ROOT / ".run" / "bench-authpolicy")
    work.mkdir(parents=True, exist_ok=True)
    if args.web:
        server = [
            *(str(ROOT / ".venv/bin/gunicorn"), "lwsmail.wsgi", "--bind", f"127.0.0.1:{port}"),
            *("--config", str(ROOT / "gunicorn.conf.py")),
        ]
    else:
        server = [str(ROOT / ".venv/bin/python"), str(ROOT / "manage.py"), "authpolicyd"]
        server += ["--listen", f"127.0.0.1:{port}"]
    worker = [
        *("nice", "-n", "10", str(ROOT / ".venv/bin/celery"), "-A", "lwsmail", "worker"),
        *("--loglevel=WARNING", "--concurrency=1", "--without-gossip", "--without-mingle"),
        # With beat, as the stack runs it: record-login-attempts every 5 seconds.
        *("--beat", "--schedule", str(ROOT / ".run" / "bench-authpolicy" / "beat-schedule")),
    ]
    from django.db import connection

    def stored() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM mailaccess_accessattempt")
            return cur.fetchone()[0]

    before = stored()
    rounds = []
    with (
        process(server, env=env, log=work / "server.log"),
        process(worker, env=env, log=work / "worker.log"),
    ):
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/api/authpolicy/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError((work / "server.log").read_text()) from None
                time.sleep(0.2)
        # Warm-up: the processes import, compile and connect.
        warm = uvloop.run(run(port, rate=200, seconds=2, mailboxes=args.mailboxes, connections=16))
        for _ in range(3):
            rounds.append(
                uvloop.run(
                    run(
                        port,
                        rate=args.rate,
                        seconds=args.seconds,
                        mailboxes=args.mailboxes,
                        connections=args.connections,
                    )
                )
            )
        reported = warm["reported"] + sum(r["reported"] for r in rounds)
        queue = redis.Redis.from_url(args.redis)
        drained = time.perf_counter()
        while (
            queue.llen("lws:auth:attempts") or stored() - before < reported
        ) and time.perf_counter() - drained < 120:
            time.sleep(0.2)
        left = queue.llen("lws:auth:attempts")
        drain_seconds = time.perf_counter() - drained
    p99s = []
    for n, result in enumerate(rounds, 1):
        both = result["latencies"]["allow"] + result["latencies"]["report"]
        p99s.append(quantile(both, 99))
        achieved = result["logins"] / result["elapsed"]
        print(f"round {n}: {achieved:.0f} logins a second, errors: {result['errors']}")
        for command, values in result["latencies"].items():
            print(
                f"  {command:<6} p50 {quantile(values, 50) * 1000:.2f} ms, "
                f"p99 {quantile(values, 99) * 1000:.2f} ms ({len(values)} requests)"
            )
    print(f"access log recorded {drain_seconds:.1f} s after the last login; left in queue: {left}")
    print(f"auth policy p99 at {args.rate}/s: {sorted(p99s)[1] * 1000:.2f} ms")
    print(f"attempts stored/reported: {(stored() - before) / reported:.2f}")


if __name__ == "__main__":
    main()
