"""Does recording a spam message cost the same with 10^6 messages already stored?

Two processes, each with its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/lwsmail_bench, and the same name with `_empty`), both
recreated: one holds no history, the other `--history` messages. They record the same
sequence of messages (every other one spam) in alternating rounds, so that a slow moment
of this shared machine falls on both: measured one after the other, minutes apart, the
ratio of one unchanged build spread from 0.97 to 1.32. Prints per-message timings of
each, the ratio, and the spread of the rounds' ratios.

    make bench-engine            # or: python bench/engine.py --history 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from common import DEFAULT_DB, fill_history, recreate_database, setup_django

RESULT = "result "


def measure(*, addresses: list[str], start: int, count: int, label: str) -> list[float]:
    from django.utils import timezone

    from ingest.recording import message_record
    from tracking.services import MessageData

    timings = []
    for i in range(start, start + count):
        data = MessageData(
            sender=addresses[i % len(addresses)],
            authenticated_user=addresses[i % len(addresses)],
            recipients=["x@example.org"],
            sent_at=timezone.now() - timedelta(seconds=i),
            score=12.0 if i % 2 else 1.0,
            action="add header",
            queue_id=f"{label}{i:08d}",
            rspamd_server="bench",
            raw=b"Subject: x\r\n\r\nbody\r\n",
        )
        started = time.perf_counter()
        message_record(data=data)
        timings.append(time.perf_counter() - started)
    return timings


def serve(database: str, role: str, history: int) -> None:
    """One side of the comparison: set up, then answer `start count` lines with the
    timings of recording those messages, as one JSON line."""
    recreate_database(database)
    setup_django(database)

    from hosting.models import CustomerAccount, Domain, Hosting, Mailbox

    customer = CustomerAccount.objects.create(name=f"bench {role}", contact_email="b@example.net")

    def boxes_of(name: str) -> tuple[Domain, list[Mailbox]]:
        # Names of this side's own: both sides share the Redis of the block state.
        hosting = Hosting.objects.create(customer=customer, name=name)
        domain = Domain.objects.create(hosting=hosting, name=f"{name}.example")
        boxes = [
            Mailbox.objects.create(domain=domain, address=f"box{i}@{domain.name}")
            for i in range(100)
        ]
        return domain, boxes

    _domain, warm = boxes_of(f"warm-{role}")
    domain, boxes = boxes_of(role)
    filled = 0.0
    if history:
        filled = fill_history(
            mailbox_ids=[b.pk for b in boxes],
            domain_id=domain.pk,
            hosting_id=domain.hosting_id,
            rows=history,
        )
    measure(addresses=[b.address for b in warm], start=0, count=200, label="w")
    addresses = [b.address for b in boxes]
    print(RESULT + json.dumps({"filled": filled}), flush=True)
    for line in sys.stdin:
        start, count = map(int, line.split())
        timings = measure(addresses=addresses, start=start, count=count, label=role[0])
        print(RESULT + json.dumps(timings), flush=True)


class Side:
    def __init__(self, database: str, role: str, history: int) -> None:
        command = [sys.executable, __file__, "--serve", role, "--database", database]
        command += ["--history", str(history)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.timings: list[float] = []
        self.last: list[float] = []  # the latest round's

    def answer(self):
        for line in self.process.stdout:
            if line.startswith(RESULT):
                return json.loads(line[len(RESULT) :])
        raise RuntimeError(f"the bench's side process ended ({self.process.wait()})")

    def record(self, start: int, count: int) -> None:
        self.process.stdin.write(f"{start} {count}\n")
        self.process.stdin.flush()
        self.last = self.answer()
        self.timings += self.last

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000, help="messages already stored")
    parser.add_argument("--messages", type=int, default=2000, help="messages recorded per side")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--serve", choices=["empty", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.database, args.serve, args.history if args.serve == "full" else 0)
        return
    if args.history < 1 or args.messages < 10 or not 1 <= args.rounds <= args.messages:
        parser.error("--history >= 1, --messages >= 10, 1 <= --rounds <= --messages")

    base, _, name = args.database.rpartition("/")
    empty = Side(f"{base}/{name}_empty", "empty", 0)
    full = Side(args.database, "full", args.history)
    try:
        empty.answer()
        filled = full.answer()["filled"]
        per_round = args.messages // args.rounds
        ratios = []
        for r in range(args.rounds):
            # Each side goes first in every other round.
            for side in (empty, full) if r % 2 == 0 else (full, empty):
                side.record(r * per_round, per_round)
            ratios.append(statistics.median(full.last) / statistics.median(empty.last))
    finally:
        empty.close()
        full.close()

    def row(label: str, t: list[float]) -> str:
        q = statistics.quantiles(t, n=100)
        return (
            f"{label:<28}{statistics.median(t) * 1e3:>9.2f}{q[94] * 1e3:>9.2f}{q[98] * 1e3:>9.2f}"
        )

    print(f"history inserted: {args.history:,} messages in {filled:.1f} s")
    print(f"{'record one message (ms)':<28}{'p50':>9}{'p95':>9}{'p99':>9}")
    print(row("empty history", empty.timings))
    print(row(f"{args.history:,} stored", full.timings))
    low, high = min(ratios), max(ratios)
    print(f"{args.rounds} alternating rounds, their ratios from {low:.2f} to {high:.2f}")
    ratio = statistics.median(full.timings) / statistics.median(empty.timings)
    print(f"per-message cost ratio (full/empty, p50): {ratio:.2f}")


if __name__ == "__main__":
    main()
