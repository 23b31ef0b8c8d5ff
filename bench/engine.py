"""Does recording a spam message cost the same with 10^6 messages already stored?

Runs against its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/lwsmail_bench), which it recreates.
Prints per-message timings on an empty history and on a large one, and the ratio.

    make bench-engine            # or: python bench/engine.py --history 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

from common import DEFAULT_DB, fill_history, recreate_database, setup_django


def measure(*, addresses: list[str], count: int, label: str) -> list[float]:
    from django.utils import timezone

    from ingest.recording import message_record
    from tracking.services import MessageData

    timings = []
    for i in range(count):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000, help="messages already stored")
    parser.add_argument("--messages", type=int, default=2000, help="messages recorded per run")
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB),
    )
    args = parser.parse_args()
    if args.history < 1 or args.messages < 10:
        parser.error("--history must be >= 1 and --messages >= 10")

    recreate_database(args.database)
    setup_django(args.database)

    from lwsmail.models import CustomerAccount, Domain, Hosting, Mailbox

    customer = CustomerAccount.objects.create(name="bench", contact_email="b@example.net")

    def hosting_with_boxes(name: str) -> tuple[Hosting, Domain, list[Mailbox]]:
        # One hosting per phase, so both start from the same block state.
        hosting = Hosting.objects.create(customer=customer, name=name)
        domain = Domain.objects.create(hosting=hosting, name=f"{name}.example")
        boxes = [
            Mailbox.objects.create(domain=domain, address=f"box{i}@{domain.name}")
            for i in range(100)
        ]
        return hosting, domain, boxes

    _h, _d, warm_boxes = hosting_with_boxes("warm")
    _h, _d, empty_boxes = hosting_with_boxes("empty")
    hosting, domain, full_boxes = hosting_with_boxes("full")
    measure(addresses=[b.address for b in warm_boxes], count=200, label="warm")
    empty = measure(addresses=[b.address for b in empty_boxes], count=args.messages, label="e")
    filled = fill_history(
        mailbox_ids=[b.pk for b in full_boxes],
        domain_id=domain.pk,
        hosting_id=hosting.pk,
        rows=args.history,
    )
    full = measure(addresses=[b.address for b in full_boxes], count=args.messages, label="f")

    def row(name: str, t: list[float]) -> str:
        q = statistics.quantiles(t, n=100)
        return f"{name:<28}{statistics.median(t) * 1e3:>9.2f}{q[94] * 1e3:>9.2f}{q[98] * 1e3:>9.2f}"

    print(f"history inserted: {args.history:,} messages in {filled:.1f} s")
    print(f"{'record one message (ms)':<28}{'p50':>9}{'p95':>9}{'p99':>9}")
    print(row("empty history", empty))
    print(row(f"{args.history:,} stored", full))
    ratio = statistics.median(full) / statistics.median(empty)
    print(f"per-message cost ratio (full/empty, p50): {ratio:.2f}")


if __name__ == "__main__":
    main()
