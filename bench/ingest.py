"""Ingestion throughput: is the panel ever the bottleneck of the mail flow?

In one run, on this machine, with a real Rspamd (deploy/rspamd + test profile), gunicorn,
a Celery worker, Redis and PostgreSQL (database BENCH_DATABASE_URL, recreated, and a copy
of it named with `_empty`, made before the history goes in):

  (a) Rspamd /checkv2 throughput alone, at its best client concurrency;
  (b) push-path throughput end to end: the exporter's POSTs accepted by the endpoint,
      stored and evaluated by the worker;
  (c) the endpoint's acknowledgement latency p50/p99 at a fixed rate, each counted from
      when its push was due (a push the client sent late counts as late);
  (d) (b) again with 10^6 messages already stored;
  (e) and (f): (b) and (d) the stream way, as docker-compose deploys it: each message
      appended to the Redis stream as Rspamd's LWS_STREAM does (bench/streams.py), and
      recorded by `manage.py ingest_stream`; its "ack" is the append Rspamd waits for.

(a), (b), (d), (e) and (f) run side by side: Rspamd, and a web process, a worker and a
stream consumer on each database (Redis databases BENCH_BROKER_URL, default 14, and
BENCH_EMPTY_BROKER_URL, default 12, flushed); each round scans the corpus and hands it to
each side both ways, in the order (a) (b) (d) (e) (f), then backwards, so that the
machine's drift falls on what each ratio compares.

The last lines are `push/scan throughput ratio: X`, `stream/scan throughput ratio: X`,
`panel/Rspamd CPU per message, HTTP push: Y` and `panel/Rspamd CPU per message: Y` (the
stream way, the panel's processes per message against Rspamd's per scan). `make
bench-ingest` runs it.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import redis as redis_lib
from common import (
    DEFAULT_DB,
    fill_history,
    process,
    quantile,
    recreate_database,
    setup_django,
)
from load import ROLES, cpu_by_role, cpu_ms_per_message, recorded_run, run_parallel
from pushes import corpus, push_headers
from servers import (
    ACCESS_MARK,
    PASSWORD,
    server_floor,
    wait_listening,
    web_command,
    worker_command,
)
from streams import consumer_command, stream_run


def scan_headers(item: dict) -> list[tuple[str, str]]:
    headers = [("From", item["sender"]), ("IP", "203.0.113.9"), ("User", item["sender"])]
    return headers + [("Queue-Id", f"Q{item['n']:07d}")] + [("Rcpt", r) for r in item["rcpt"]]


def scan_one(client: httpx.Client, url: str, pair: tuple[dict, list]) -> dict:
    item, headers = pair
    response = client.post(f"{url}/checkv2", content=item["raw"], headers=headers)
    response.raise_for_status()
    return response.json()


@dataclass
class Stack:
    """A web process and a worker on one database, with their own Redis database."""

    url: str
    database: str
    redis_url: str
    conn: psycopg.Connection | None = None

    def pending(self) -> bool:
        # One connection kept: a new one at each look costs PostgreSQL a backend's start,
        # counted against the panel, and its end takes that backend's CPU out of the sum.
        if self.conn is None:
            self.conn = psycopg.connect(self.database, autocommit=True)
        return self.conn.execute("SELECT EXISTS (SELECT 1 FROM tracking_ingestevent)").fetchone()[0]


def push_run(
    stack: Stack,
    items: list,
    verdicts: list,
    prefix: str,
    concurrency: int,
    rate: float | None = None,
) -> dict:
    """POST every message as the exporter would; time until the worker has stored them all.
    With `rate`, requests leave on a fixed schedule (open loop), as mail arrives."""
    from hosting.counters import KEY

    # Each request's headers are made before the clock starts, as the scan's are: what the
    # exporter spends making them is Rspamd's, not the panel's.
    authorization = "Basic " + base64.b64encode(f"rspamd:{PASSWORD}".encode()).decode()
    redis = redis_lib.Redis.from_url(stack.redis_url)
    url = stack.url
    acks: list[float] = []

    def recorded() -> int:
        # The workers' own count of recorded messages (hosting/counters.py), one Redis read: a
        # COUNT(*) over 10^6 stored messages every 50 ms took CPU from the workers measured.
        return int(redis.hget(KEY, "ingest_recorded") or 0)

    before = recorded()

    schedule: dict[str, float] = {}

    def post(client: httpx.Client, pair) -> None:
        index, item, headers = pair
        started = time.perf_counter()
        if rate:
            # From when the message was due: a request the client sent late is late for
            # the exporter too.
            started = schedule["start"] + index / rate
            if started > time.perf_counter():
                time.sleep(started - time.perf_counter())
        response = client.post(url, content=item["raw"], headers=headers)
        acks.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"push answered {response.status_code}: {response.text}")

    pairs = [
        (i, item, {**push_headers(item, v, prefix), "Authorization": authorization})
        for i, (item, v) in enumerate(zip(items, verdicts, strict=True))
    ]
    cpu_before: dict[str, float] = {}

    def on_start() -> None:
        cpu_before.update(cpu_by_role())
        schedule.update(clock=time.perf_counter(), start=time.perf_counter() + 0.1)

    health = url.split("/api/", 1)[0] + "/healthz"
    _results, accepted = run_parallel(post, pairs, concurrency, health, on_start)
    target = before + len(items)
    return recorded_run(
        cpu_before=cpu_before,
        messages=len(items),
        started=schedule["clock"],
        handed=accepted,
        acks=acks,
        done=lambda: recorded() >= target and not stack.pending(),
        who="worker",
    )


def combined(runs: list[dict]) -> dict:
    """The rounds of one side as one run: messages over time, CPU per message, acks."""
    messages = sum(r["messages"] for r in runs)
    acks = [a for r in runs for a in r["acks"]]
    roles = {role for r in runs for role in r["cpu_ms"]}
    return {
        "throughput": messages / sum(r["elapsed"] for r in runs),
        "accept_rate": messages / sum(r["messages"] / r["accept_rate"] for r in runs),
        "ack_p99": quantile(acks, 99) * 1e3,
        "cpu_ms": {
            role: sum(r["cpu_ms"].get(role, 0.0) * r["messages"] for r in runs) / messages
            for role in roles
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--spam-ratio", type=float, default=0.08)
    parser.add_argument("--push-concurrency", type=int, default=8)
    parser.add_argument("--worker-nice", type=int, default=10)
    parser.add_argument(
        "--ack-rate", type=float, default=100.0, help="msg/s of the paced run measuring (c)"
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating rounds of (b) and (d), the corpus each"
    )
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    if args.messages < 100 or not 0 <= args.spam_ratio <= 1 or args.history < 0:
        parser.error("--messages >= 100, 0 <= --spam-ratio <= 1, --history >= 0")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds from 1 to 20")

    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
    recreate_database(args.database)
    env = setup_django(
        args.database,
        CELERY_BROKER_URL=broker,
        REDIS_URL=broker,
        INGEST_PASSWORD=PASSWORD,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_CONN_MAX_AGE="600",
        LOG_LEVEL="WARNING",
    )
    import redis

    from hosting.models import CustomerAccount, Domain, Hosting, Mailbox
    from tests.harness.common import free_port
    from tests.harness.rspamd import Rspamd

    redis.Redis.from_url(broker).flushdb()
    customer = CustomerAccount.objects.create(name="bench", contact_email="b@example.net")
    senders, first_domain = [], None
    for d in range(20):
        hosting = Hosting.objects.create(customer=customer, name=f"h{d}")
        domain = Domain.objects.create(hosting=hosting, name=f"shop{d}.example")
        first_domain = first_domain or domain
        for b in range(10):
            senders.append(
                Mailbox.objects.create(domain=domain, address=f"box{b}@{domain.name}").address
            )
    rng = random.Random(7)
    items = corpus(rng, senders, args.messages, args.spam_ratio)
    mean_size = statistics.mean(len(i["raw"]) for i in items)
    print(
        f"corpus: {len(items)} messages, mean {mean_size / 1024:.1f} KiB, "
        f"{args.spam_ratio:.0%} spam wording, 10% website scripts"
    )

    work = Path(tempfile.mkdtemp(prefix="lws-bench-"))
    rspamd = Rspamd().start()
    with ExitStack() as alive:
        alive.callback(rspamd.cleanup)
        # (a) Rspamd alone: its best concurrency on a slice; the verdicts the pushes carry.
        scans = [(item, scan_headers(item)) for item in items]
        ping = f"{rspamd.url}/ping"
        sample = scans[: min(400, len(scans))]

        def scan_run(concurrency: int, todo: list, on_start=lambda: None) -> tuple[list, float]:
            return run_parallel(
                lambda cl, it: scan_one(cl, rspamd.url, it), todo, concurrency, ping, on_start
            )

        best = max((1, 2, 4, 8, 16), key=lambda c: len(sample) / scan_run(c, sample)[1])
        verdicts, _elapsed = scan_run(best, scans)

        def scan_round() -> dict:
            time.sleep(0.5)  # the last push round's drain ends its last look first
            cpu_before: dict[str, float] = {}
            _verdicts, elapsed = scan_run(best, scans, lambda: cpu_before.update(cpu_by_role()))
            return {
                "elapsed": elapsed,
                "messages": len(items),
                "cpu_ms": cpu_ms_per_message(cpu_before, len(items)),
            }

        # The empty side: a copy of the database as it stands, users and mailboxes made, before
        # the history goes into the original.
        from django.db import connections

        connections.close_all()
        base, _, name = args.database.rpartition("/")
        empty_database = f"{base}/{name}_empty"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_empty" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}_empty" TEMPLATE "{name}"')
        boxes = list(Mailbox.objects.filter(domain=first_domain).values_list("pk", flat=True))
        filled = (
            fill_history(
                mailbox_ids=boxes,
                domain_id=first_domain.pk,
                hosting_id=first_domain.hosting_id,
                rows=args.history,
            )
            if args.history
            else 0.0
        )
        empty_broker = os.environ.get("BENCH_EMPTY_BROKER_URL", "redis://127.0.0.1:6379/12")
        redis.Redis.from_url(empty_broker).flushdb()
        sides = {
            "empty": (empty_database, empty_broker, work / "empty"),
            "full": (args.database, broker, work / "full"),
        }
        with ExitStack() as running:
            stacks: dict[str, Stack] = {}
            for side, (database, redis_url, folder) in sides.items():
                folder.mkdir()
                side_env = {**env, "DATABASE_URL": database}
                side_env |= {"REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url}
                port = free_port()
                running.enter_context(
                    process(
                        web_command(port, args.web_workers, folder),
                        env=side_env,
                        log=folder / "web.log",
                    )
                )
                running.enter_context(
                    process(worker_command(args), env=side_env, log=folder / "worker.log")
                )
                running.enter_context(
                    process(consumer_command(args), env=side_env, log=folder / "consumer.log")
                )
                stacks[side] = Stack(
                    f"http://127.0.0.1:{port}/api/ingest/rspamd/", database, redis_url
                )
                wait_listening(port, folder)
            # Warm-up: both pool processes import, compile templates and open connections.
            for side, stack in stacks.items():
                push_run(stack, items[:300], verdicts[:300], f"W{side[0]}", args.push_concurrency)
                stream_run(
                    stack.redis_url,
                    items[:300],
                    verdicts[:300],
                    f"V{side[0]}",
                    args.push_concurrency,
                )
            steps = ("scan", "empty", "full", "stream-empty", "stream-full")
            runs: dict[str, list[dict]] = {step: [] for step in steps}
            # Every round scans the corpus and pushes it to each side (new queue ids), in
            # the order scan, empty, full, then full, empty, scan: each pair that a ratio
            # compares stays side by side. Rounds of a slice each would weigh the last
            # messages' wait for the drain more.
            for r in range(args.rounds):
                for step in steps[:: 1 if r % 2 == 0 else -1]:
                    if step == "scan":
                        runs[step].append(scan_round())
                        continue
                    way, _, side = step.rpartition("-")
                    prefix = f"{'S' if way else ''}{'B' if side == 'empty' else 'F'}{r}-"
                    if way:
                        run = stream_run(
                            stacks[side].redis_url, items, verdicts, prefix, args.push_concurrency
                        )
                    else:
                        run = push_run(stacks[side], items, verdicts, prefix, args.push_concurrency)
                    runs[step].append(run)
            access = sides["empty"][2] / "access.log"
            offset = access.stat().st_size
            paced = push_run(
                stacks["empty"], items[:1000], verdicts[:1000], "P", 32, rate=args.ack_rate
            )
            with open(access) as log:
                log.seek(offset)
                served = [
                    int(line.split()[2]) / 1e3 for line in log if line.startswith(ACCESS_MARK)
                ]
            paced_stream = stream_run(
                stacks["empty"].redis_url, items[:1000], verdicts[:1000], "Q", 32, args.ack_rate
            )
            floor = server_floor(args, items, verdicts, work, env)
    empty, full, s_empty, s_full = (
        combined(runs[side]) for side in ("empty", "full", "stream-empty", "stream-full")
    )
    round_ratios = [
        f["throughput"] / e["throughput"] for e, f in zip(runs["empty"], runs["full"], strict=True)
    ]
    scan_rate = sum(r["messages"] for r in runs["scan"]) / sum(r["elapsed"] for r in runs["scan"])
    scan_cpu = {
        role: statistics.mean(r["cpu_ms"].get(role, 0.0) for r in runs["scan"])
        for role in {role for r in runs["scan"] for role in r["cpu_ms"]}
    }
    push_scan = [
        e["messages"] / e["elapsed"] / (a["messages"] / a["elapsed"])
        for a, e in zip(runs["scan"], runs["empty"], strict=True)
    ]

    print(f"history: {args.history:,} messages inserted in {filled:.0f} s")
    print(f"{'measure':<52}{'value':>14}")
    rows = [
        (f"(a) Rspamd /checkv2 alone, best concurrency {best}", f"{scan_rate:.0f} msg/s"),
        ("(b) push path end to end (empty history)", f"{empty['throughput']:.0f} msg/s"),
        ("    endpoint accept rate alone", f"{empty['accept_rate']:.0f} msg/s"),
        (f"(c) ack latency p50 at {args.ack_rate:.0f} msg/s", f"{paced['ack_p50']:.1f} ms"),
        (f"(c) ack latency p99 at {args.ack_rate:.0f} msg/s", f"{paced['ack_p99']:.1f} ms"),
        ("    same, inside the server: p50", f"{statistics.median(served):.1f} ms"),
        ("    same, inside the server: p99", f"{quantile(served, 99):.1f} ms"),
        ("    ack latency p99 at saturation (b)", f"{empty['ack_p99']:.1f} ms"),
        (f"(d) push path end to end ({args.history:,} stored)", f"{full['throughput']:.0f} msg/s"),
        ("    ack latency p99 with history", f"{full['ack_p99']:.1f} ms"),
        ("(d)/(b)", f"{full['throughput'] / empty['throughput']:.2f}"),
        (
            f"    the {args.rounds} rounds' (d)/(b)",
            f"{min(round_ratios):.2f} to {max(round_ratios):.2f}",
        ),
        ("(e) stream way end to end (empty history)", f"{s_empty['throughput']:.0f} msg/s"),
        ("    append rate alone", f"{s_empty['accept_rate']:.0f} msg/s"),
        (
            f"    append latency p50 at {args.ack_rate:.0f} msg/s",
            f"{paced_stream['ack_p50']:.1f} ms",
        ),
        (
            f"    append latency p99 at {args.ack_rate:.0f} msg/s",
            f"{paced_stream['ack_p99']:.1f} ms",
        ),
        (
            f"(f) stream way end to end ({args.history:,} stored)",
            f"{s_full['throughput']:.0f} msg/s",
        ),
        ("(f)/(e)", f"{s_full['throughput'] / s_empty['throughput']:.2f}"),
    ]
    for name, value in rows:
        print(f"{name:<52}{value:>14}")
    print(
        "CPU per message, ms (from /proc): "
        "(a) scan alone | (b) push | (d) stored | (e) stream | (f) stored"
    )
    columns = (scan_cpu, *(x["cpu_ms"] for x in (empty, full, s_empty, s_full)))
    for _, role in (*ROLES, ("", "bench client")):
        values = [column.get(role, 0.0) for column in columns]
        if any(values):
            print(f"    {role:<30}" + " |".join(f"{v:>8.2f}" for v in values))
    totals = [sum(column.values()) for column in columns]
    print(f"    {'all':<30}" + " |".join(f"{v:>8.2f}" for v in totals))
    print(f"    {'web server alone, a no-op app':<30}{'':>8} |{floor:>8.2f} |")
    print(
        f"the {args.rounds} rounds' push/scan ratio: {min(push_scan):.2f} to {max(push_scan):.2f}"
    )
    print(f"push/scan throughput ratio: {empty['throughput'] / scan_rate:.2f}")
    print(f"stream/scan throughput ratio: {s_empty['throughput'] / scan_rate:.2f}")
    # The panel's processes (web, worker, consumer, PostgreSQL, Redis) per message, against
    # Rspamd's per scanned message alone (goal: 0.5 or less), both ways in.
    rspamd = scan_cpu.get("Rspamd", 0.0)
    for label, run in ((", HTTP push", empty), ("", s_empty)):
        panel = sum(
            v for role, v in run["cpu_ms"].items() if role not in ("Rspamd", "bench client")
        )
        print(f"panel/Rspamd CPU per message{label}: {panel / rspamd:.2f}" if rspamd else "")


if __name__ == "__main__":
    main()
