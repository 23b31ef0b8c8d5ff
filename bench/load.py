"""What bench/ingest.py's phases share: many kept-alive HTTP clients pushing in parallel,
and the CPU this machine's processes used, by role (from /proc)."""

from __future__ import annotations

import os
import queue
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import quantile


def run_parallel(
    fn, items: list, concurrency: int, warm_url: str, on_start=lambda: None
) -> tuple[list, float]:
    """fn(client, item) over items from `concurrency` threads, one kept-alive client each,
    made and connected (a GET of `warm_url`) before the clock starts, when `on_start` is
    called: making one costs ~10 ms, and 32 of them made on the clock held back the first
    requests of a paced run by up to 200 ms, which its p99 then measured."""
    idle: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
    clients = [httpx.Client(timeout=60) for _ in range(concurrency)]
    for client in clients:
        client.get(warm_url)
        idle.put(client)
    local = threading.local()

    def call(item):
        if not hasattr(local, "client"):
            local.client = idle.get()
        return fn(local.client, item)

    on_start()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(call, items))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return results, elapsed


ROLES = (
    ("gunicorn", "web (gunicorn)"),
    ("celery", "worker (celery)"),
    ("ingest_stream", "consumer (ingest_stream)"),
    ("postgres", "PostgreSQL"),
    ("redis-server", "Redis"),
    ("rspamd", "Rspamd"),
)


def cpu_by_role() -> dict[str, float]:
    """CPU seconds used so far by this machine's processes, by role (from /proc), this
    bench's own client included: where a message's cost goes."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        role = (
            "bench client"
            if int(pid) == os.getpid()
            else next((name for key, name in ROLES if key in cmdline), None)
        )
        if role:
            used[role] = used.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_ms_per_message(before: dict[str, float], messages: int) -> dict[str, float]:
    """Each role's CPU since `before` (cpu_by_role), in ms per message."""
    after = cpu_by_role()
    return {role: (after[role] - before.get(role, 0.0)) * 1e3 / messages for role in after}


def recorded_run(
    *,
    cpu_before: dict[str, float],
    messages: int,
    started: float,
    handed: float,
    acks: list[float],
    done,
    who: str,
) -> dict:
    """Wait until `done()` (every message recorded, nothing left waiting), then one run's
    figures: CPU per message, throughput end to end, the rate messages were handed over
    (in `handed` seconds) and the acknowledgements' latency."""
    while not done():
        if time.perf_counter() - started > 600:
            raise RuntimeError(f"the {who} did not record every message within 10 minutes")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    return {
        "cpu_ms": cpu_ms_per_message(cpu_before, messages),
        "elapsed": elapsed,
        "messages": messages,
        "throughput": messages / elapsed,
        "accept_rate": messages / handed,
        "ack_p50": statistics.median(acks) * 1e3,
        "ack_p99": quantile(acks, 99) * 1e3,
        "acks": acks,
    }
