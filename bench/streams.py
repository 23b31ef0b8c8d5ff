"""bench/ingest.py's stream way: the entries Rspamd's LWS_STREAM appends (one EVAL of the
same script per message, from as many threads as pushes), recorded by `manage.py
ingest_stream` as deployed."""

from __future__ import annotations

import argparse
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis as redis_lib
from common import ROOT
from load import cpu_by_role, recorded_run
from pushes import push_headers


def stream_add_script() -> str:
    """The script Rspamd's LWS_STREAM sends with each message, read from the Lua it runs."""
    lua = (ROOT / "deploy" / "rspamd" / "rspamd.local.lua").read_text()
    match = re.search(r"local STREAM_ADD = \[\[\n(.*?)\]\]", lua, re.S)
    if match is None:
        raise RuntimeError("deploy/rspamd/rspamd.local.lua holds no STREAM_ADD script")
    return match.group(1)


STREAM = "lwsmail:ingest:stream"
STREAM_MAX = 50_000


def consumer_command(args: argparse.Namespace) -> list[str]:
    # At the worker's priority (docker-compose): recording waits, Rspamd's scans do not.
    return [
        *("nice", "-n", str(args.worker_nice), str(ROOT / ".venv/bin/python")),
        *(str(ROOT / "manage.py"), "ingest_stream"),
    ]


def entry_args(item: dict, verdict: dict, prefix: str) -> list:
    """The script's arguments for one message: the push's X-Rspamd-* values, named without
    the prefix as LWS_STREAM writes them, and the message."""
    fields = {
        name.removeprefix("X-Rspamd-"): value
        for name, value in push_headers(item, verdict, prefix).items()
    }
    return [STREAM_MAX, *(x for pair in fields.items() for x in pair), "message", item["raw"]]


def stream_run(
    redis_url: str,
    items: list,
    verdicts: list,
    prefix: str,
    concurrency: int,
    rate: float | None = None,
) -> dict:
    """Append every message as Rspamd would; time until the consumer has recorded them all.
    With `rate`, on a fixed schedule, each append timed from when it was due."""
    from hosting.counters import KEY

    redis = redis_lib.Redis.from_url(redis_url)
    script = stream_add_script()
    todo = [
        (i, entry_args(item, v, prefix))
        for i, (item, v) in enumerate(zip(items, verdicts, strict=True))
    ]
    before = int(redis.hget(KEY, "ingest_recorded") or 0)
    clients = threading.local()
    adds: list[float] = []
    cpu_before = cpu_by_role()
    start = time.perf_counter()

    def append(pair) -> None:
        index, arguments = pair
        if not hasattr(clients, "redis"):
            clients.redis = redis_lib.Redis.from_url(redis_url)
        due = time.perf_counter()
        if rate:
            due = start + 0.1 + index / rate
            if due > time.perf_counter():
                time.sleep(due - time.perf_counter())
        # EVAL with the script's text each time, as Rspamd's lua_redis sends it.
        clients.redis.eval(script, 1, STREAM, *arguments)
        adds.append(time.perf_counter() - due)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(append, todo))
    appended = time.perf_counter() - start
    target = before + len(items)
    return recorded_run(
        cpu_before=cpu_before,
        messages=len(items),
        started=start,
        handed=appended,
        acks=adds,
        done=lambda: (
            int(redis.hget(KEY, "ingest_recorded") or 0) >= target and not redis.xlen(STREAM)
        ),
        who="consumer",
    )
