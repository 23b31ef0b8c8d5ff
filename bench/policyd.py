"""The SMTP policy service under load (the content sweep's bench is bench/retention.py).

(1) `manage.py policyd` with 10^5 blocked addresses in Redis, 50 concurrent connections
    (10 % of the senders are blocked):
    a. saturated: each connection sends its next request as soon as it has its answer;
       answers per second is the capacity. Latency here is queueing by construction
       (Little's law: 50 connections / capacity).
    b. paced at the goal rate, 5,000 answers/s in all (100/s per connection, as Postfix's
       smtpd processes ask when mail arrives): latency p50/p99, each measured from the
       moment the request was due, so a stall that delays later requests counts for them.
(2) The same with sending limits and compromise detection on: 10^5 mailboxes (1,000
    domains, 100 hostings) with their limits published, every request an authenticated
    recipient counted on its mailbox's, domain's and hosting's counters and checked for
    volume and client networks (one Lua script per answer), a fresh message every request;
    then the Redis memory the counters take per 10^5 active mailboxes at 10 recipients
    each, and at 1,000 each spread over the last 24 hours.

  make bench-policyd
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path

import uvloop
from common import DEFAULT_DB, ROOT, process, quantile, recreate_database, setup_django

BLOCKED_DOMAINS = 1000


_instances = iter(range(1 << 62))


def postfix_request(sender: str) -> bytes:
    """A request as Postfix 3.7's smtpd sends it at RCPT (every attribute it sends); each
    a new message (its own `instance`), so no per-message limit is met."""
    attrs = {
        "request": "smtpd_access_policy",
        "protocol_state": "RCPT",
        "protocol_name": "ESMTP",
        "helo_name": "pc-42.example.net",
        "queue_id": "",
        "sender": sender,
        "recipient": "friend@example.org",
        "recipient_count": "0",
        "client_address": "203.0.113.9",
        "client_name": "pc-42.example.net",
        "reverse_client_name": "pc-42.example.net",
        "instance": f"1b2c.65a1f0e3.{next(_instances):x}.0",
        "sasl_method": "PLAIN",
        "sasl_username": sender,
        "sasl_sender": "",
        "size": "0",
        "ccert_subject": "",
        "ccert_issuer": "",
        "ccert_fingerprint": "",
        "ccert_pubkey_fingerprint": "",
        "encryption_protocol": "TLSv1.3",
        "encryption_cipher": "TLS_AES_256_GCM_SHA384",
        "encryption_keysize": "256",
        "etrn_domain": "",
        "stress": "",
        "policy_context": "",
        "server_address": "192.0.2.25",
        "server_port": "587",
        "compatibility_level": "3.6",
        "mail_version": "3.7.11",
    }
    return "".join(f"{k}={v}\n" for k, v in attrs.items()).encode() + b"\n"


async def client(port: int, senders: list[str], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for sender in senders:
        started = time.perf_counter()
        writer.write(postfix_request(sender))
        await writer.drain()
        await reader.readuntil(b"\n\n")
        latencies.append(time.perf_counter() - started)
    writer.close()


async def paced_client(
    port: int, senders: list[str], interval: float, start: float, latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for n, sender in enumerate(senders):
        due = start + n * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(postfix_request(sender))
        await writer.drain()
        await reader.readuntil(b"\n\n")
        latencies.append(time.perf_counter() - due)
    writer.close()


def plans_for(connections: int, per_connection: int, blocked: int) -> list[list[str]]:
    rng = random.Random(3)
    if blocked < 0:  # the limits phase: -blocked active mailboxes, all published
        return [
            [mailbox(rng.randrange(-blocked)) for _ in range(per_connection)]
            for _ in range(connections)
        ]
    return [
        [
            f"user{rng.randrange(blocked)}@blocked{rng.randrange(BLOCKED_DOMAINS)}.example"
            if rng.random() < 0.1
            else f"someone{rng.randrange(10**6)}@free.example"
            for _ in range(per_connection)
        ]
        for _ in range(connections)
    ]


async def load(
    port: int, connections: int, per_connection: int, blocked: int
) -> tuple[float, list]:
    latencies: list[float] = []
    plans = plans_for(connections, per_connection, blocked)
    started = time.perf_counter()
    await asyncio.gather(*(client(port, plan, latencies) for plan in plans))
    return time.perf_counter() - started, latencies


async def paced(port: int, connections: int, rate: float, seconds: float, blocked: int) -> list:
    latencies: list[float] = []
    interval = connections / rate
    plans = plans_for(connections, int(seconds / interval), blocked)
    # Connections start spread over one interval, as independent smtpd processes would.
    start = time.perf_counter() + 0.5
    await asyncio.gather(
        *(
            paced_client(port, plan, interval, start + i * interval / connections, latencies)
            for i, plan in enumerate(plans)
        )
    )
    return latencies


def mailbox(n: int) -> str:
    return f"box{n}@d{n % 1000}.example"


# Compromise detection on as seeded (5 networks; the volume is 10x a baseline of 100 an
# hour): every answer checks both, and nobody is held by the bench's own volume.
DETECTION = {"hv": 1000, "hn": 5, "p4": 24, "p6": 48}


def publish_limits(r, mailboxes: int) -> None:
    """The hash the panel publishes (limits/state.py), for `mailboxes` mailboxes."""
    from enforcement.counters import LIMITS_KEY

    r.delete(LIMITS_KEY)
    pipe = r.pipeline(transaction=False)
    default = {"m": [200, 1000], "dl": [500, 3000], "pm": 100, **DETECTION}
    pipe.hset(LIMITS_KEY, "default", json.dumps(default))
    for n in range(mailboxes):
        entry = {
            "h": n % 100,
            "d": f"d{n % 1000}.example",
            "m": [200, 1000],
            "dl": [500_000, 3_000_000],  # far above the bench's own volume: every answer counts
            "hl": [0, 0],
            "pm": 100,
            "hv": DETECTION["hv"],
        }
        pipe.hset(LIMITS_KEY, f"mailbox:{mailbox(n)}", json.dumps(entry))
        if n % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def clear_counters(r) -> None:
    from enforcement.counters import PREFIX

    batch = []
    for key in r.scan_iter(f"{PREFIX}*", count=10_000):
        batch.append(key)
        if len(batch) == 10_000:
            r.unlink(*batch)
            batch = []
    if batch:
        r.unlink(*batch)


def _calls(n: int, per_mailbox: int, now: float) -> list[tuple[float, int]]:
    """(time, recipients) calls that leave mailbox n's counters as `per_mailbox` recipients
    over the last 24 hours would (random times; 10 or fewer: all now). Recipients whose
    minute left the hourly window go in one call per hour (only their hour's bucket is
    left), the others in one call per minute: the buckets left are exactly those of one
    call per recipient."""
    if per_mailbox <= 10:
        return [(now, 1)] * per_mailbox
    rng = random.Random(n)
    groups: dict[tuple[str, int], list[float]] = {}
    for _ in range(per_mailbox):
        at = now - rng.uniform(0, 86_400)
        in_hour = int(now // 60) - int(at // 60) <= 60  # its minute is still in the window
        group = ("minute", int(at // 60)) if in_hour else ("hour", int(at // 3600))
        groups.setdefault(group, []).append(at)
    return sorted((max(times), len(times)) for times in groups.values())


def counters_memory(r, mailboxes: int, per_mailbox: int) -> int:
    """Bytes Redis grows by when every mailbox has `per_mailbox` recipients counted in the
    last 24 hours (its client network recorded by detection too)."""
    from enforcement.counters import ADMIT, Counter, Detection, admit_args, admit_keys

    clear_counters(r)
    before = r.info("memory")["used_memory"]
    sha = r.script_load(ADMIT)
    pipe = r.pipeline(transaction=False)
    now = time.time()
    for n in range(mailboxes):
        counters = [
            Counter("mailbox", mailbox(n), 200, 1000),
            Counter("domain", f"d{n % 1000}.example", 0, 0),
            Counter("hosting", str(n % 100), 0, 0),
        ]
        detection = Detection(mailbox(n), DETECTION["hv"], "203.0.113.0/24", DETECTION["hn"])
        keys = admit_keys(counters, "", detection)
        for at, recipients in _calls(n, per_mailbox, now):
            args = admit_args(
                counters, recipients=recipients, per_message=0, now=at, detection=detection
            )
            pipe.evalsha(sha, len(keys), *keys, *args)
        if n % 200 == 199:
            for result in pipe.execute():
                assert result == [-1], result  # every recipient counted
    for result in pipe.execute():
        assert result == [-1], result
    grown = r.info("memory")["used_memory"] - before
    clear_counters(r)
    return grown


def run_load(env: dict[str, str], args, population: int, log: str) -> tuple[float, list, list]:
    """Start `manage.py policyd`, warm it up, then (a) saturate it and (b) pace it for
    three rounds of 10 s: a p99 over one round moves with whatever else this shared machine
    does; the median of the three is the figure."""
    import socket

    from tests.harness.common import free_port, wait_for

    port = free_port()
    cmd = [str(ROOT / ".venv/bin/python"), "manage.py", "policyd", "--listen", f"127.0.0.1:{port}"]
    with process(cmd, env=env, log=Path(log)):
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
            timeout=30,
            what="policyd",
        )
        uvloop.run(load(port, 5, 50, population))  # warm-up
        elapsed, latencies = uvloop.run(
            load(port, args.connections, args.requests // args.connections, population)
        )
        rounds = [
            uvloop.run(paced(port, args.connections, args.rate, 10.0, population)) for _ in range(3)
        ]
    return elapsed, latencies, rounds


def load_rows(args, elapsed: float, latencies: list, rounds: list) -> list[tuple[str, str]]:
    return [
        (
            f"  a. saturated, {len(latencies):,} answers: answers per second",
            f"{len(latencies) / elapsed:,.0f}",
        ),
        ("     latency p50 (queueing)", f"{statistics.median(latencies) * 1e3:.2f} ms"),
        ("     latency p99 (queueing)", f"{quantile(latencies, 99) * 1e3:.2f} ms"),
        *[
            (
                f"  b. paced at {args.rate:,.0f}/s, round {n}, {len(r):,} answers: p50 / p99",
                f"{statistics.median(r) * 1e3:.2f} / {quantile(r, 99) * 1e3:.2f} ms",
            )
            for n, r in enumerate(rounds, 1)
        ],
        (
            "     latency p99, median of the rounds",
            f"{statistics.median(quantile(r, 99) for r in rounds) * 1e3:.2f} ms",
        ),
    ]


def limits_bench(args, env: dict[str, str]) -> list[tuple[str, str]]:
    import redis

    from enforcement.blockstate import KEY
    from enforcement.counters import LIMITS_KEY

    r = redis.Redis.from_url(env["REDIS_URL"])
    r.delete(KEY)
    clear_counters(r)
    publish_limits(r, args.mailboxes)
    elapsed, latencies, rounds = run_load(env, args, -args.mailboxes, "/tmp/lws-policyd-limits.log")
    clear_counters(r)
    rows = [
        (f"policyd with limits and detection: {args.mailboxes:,} mailboxes counted", ""),
        *load_rows(args, elapsed, latencies, rounds),
    ]
    # 1,000 recipients each over the day: measured on a sample of mailboxes (all 1,000
    # domains' and 100 hostings' counters included), scaled to 10^5 (an upper bound).
    for per_mailbox, sample in ((10, args.mailboxes), (1000, min(args.mailboxes, 20_000))):
        memory = counters_memory(r, sample, per_mailbox) * 100_000 / sample
        rows.append(
            (
                f"counters MiB per 10^5 mailboxes at {per_mailbox} recipients: "
                f"{memory / 2**20:.1f}",
                f"({sample:,} measured)",
            )
        )
    r.delete(LIMITS_KEY)
    return rows


def policyd_bench(args, env: dict[str, str]) -> list[tuple[str, str]]:
    import redis

    from enforcement.blockstate import KEY

    r = redis.Redis.from_url(env["REDIS_URL"])
    r.delete(KEY)
    pipe = r.pipeline(transaction=False)
    for n in range(args.blocked):
        entry = {"id": n, "code": "L-SPAM20", "rank": 20, "ends_at": None}
        pipe.hset(KEY, f"address:user{n}@blocked{n % BLOCKED_DOMAINS}.example", json.dumps(entry))
        if n % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    elapsed, latencies, rounds = run_load(env, args, args.blocked, "/tmp/lws-policyd.log")
    r.delete(KEY)
    return [
        (f"policyd: {args.connections} connections, {args.blocked:,} blocked addresses", ""),
        *load_rows(args, elapsed, latencies, rounds),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocked", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=5_000.0, help="answers/s for (b)")
    parser.add_argument("--mailboxes", type=int, default=100_000, help="for (2); 0 skips it")
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    if args.blocked < 1 or args.connections < 1 or args.requests < args.connections:
        parser.error("--blocked >= 1, --connections >= 1, --requests >= --connections")
    if args.rate <= 0:
        parser.error("--rate must be > 0")
    recreate_database(args.database)
    env = setup_django(
        args.database,
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        LOG_LEVEL="WARNING",
    )
    rows = policyd_bench(args, env) + (limits_bench(args, env) if args.mailboxes else [])
    for name, value in rows:
        print(f"{name:<66}{value:>16}")


if __name__ == "__main__":
    main()
