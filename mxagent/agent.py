"""The mail-host agent: Postfix's log read from where it stopped, its delivery lines sent to
the panel's API in batches (`POST /api/v1/deliveries/`, a token with the scope
deliveries:write), the place in the log kept only once the panel has them.

The panel away or failing: the batch is sent again, waiting longer each time (never
dropped: the log is the only copy). A token refused: the agent stops, saying so."""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from mxagent.follow import LogFile, Place
from mxagent.parse import parse
from mxagent.queue import Postfix, Wanted, held_load, held_save, reconcile

log = logging.getLogger("mxagent")
PATH = "/api/v1/deliveries/"
QUEUE_PATH = "/api/v1/queue/"
# A batch stays far below the TLS front's 1 MiB body limit (a line is under 1 KiB).
BATCH = 500


class Refused(Exception):
    """The panel refused the agent itself (its token, its scope): retrying cannot help."""


@dataclass
class Counts:
    lines: int = 0
    shipped: int = 0
    skipped: int = 0  # other daemons' lines, other Postfix lines, garbage
    stored: int = 0
    duplicates: int = 0
    invalid: int = 0
    started: float = field(default_factory=time.monotonic)


class Panel:
    def __init__(self, url: str, token: str, *, host: str, timeout: float = 30.0) -> None:
        self.host = host
        self.http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def send(self, deliveries: list[dict], skipped: int, *, sleep=time.sleep) -> dict:
        """The panel's counts for one batch, once it has answered 200."""
        body = {"host": self.host, "deliveries": deliveries, "skipped": skipped}
        wait = 1.0
        while True:
            try:
                response = self.http.post(PATH, json=body)
            except httpx.TransportError as exc:
                problem = f"unreachable ({exc})"
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code in (401, 403, 404):
                    raise Refused(f"{response.status_code} {response.text[:300]}")
                problem = f"answered {response.status_code} {response.text[:300]}"
            log.warning("mxagent: the panel %s; sending again in %.0f s", problem, wait)
            sleep(wait)
            wait = min(wait * 2, 60.0)

    def queue_wanted(self) -> Wanted:
        """What the panel wants held now (raises Refused, httpx errors: the caller retries)."""
        response = self.http.get(QUEUE_PATH, params={"host": self.host})
        if response.status_code in (401, 403, 404):
            raise Refused(f"{response.status_code} {response.text[:300]}")
        response.raise_for_status()
        data = response.json()
        return Wanted(
            addresses=frozenset(a.lower() for a in data["addresses"]),
            domains=frozenset(d.lower() for d in data["domains"]),
            delete=frozenset(data["delete"]),
        )

    def queue_report(self, held: list[dict]) -> None:
        response = self.http.post(QUEUE_PATH + "held/", json={"host": self.host, "held": held})
        if response.status_code in (401, 403, 404):
            raise Refused(f"{response.status_code} {response.text[:300]}")
        response.raise_for_status()


@dataclass
class QueueKeeper:
    """The queue kept as the panel wants it, at most every `every` seconds."""

    postfix: Postfix
    state: Path
    every: float = 10.0
    last: float = float("-inf")

    def run(self, panel: Panel, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self.last < self.every:
            return
        self.last = now
        try:
            wanted = panel.queue_wanted()
            held, ours = reconcile(self.postfix, wanted, held_load(self.state))
            held_save(self.state, ours)
            panel.queue_report(held)
        except (httpx.HTTPError, RuntimeError, OSError, ValueError, KeyError) as exc:
            log.warning("mxagent: the queue was not kept this time (%s); again soon", exc)


def batches(
    lines: Iterable[tuple[bytes | None, Place | None]], *, size: int = BATCH, counts: Counts
) -> Iterator[tuple[list[dict], int, Place | None]]:
    """The deliveries of `lines` in batches, each with the lines skipped since the last
    and the place after its last line; a None line ends the batch early."""
    batch: list[dict] = []
    skipped = 0
    place: Place | None = None
    now = datetime.now(UTC).astimezone()
    for raw, at in lines:
        if raw is None:  # the input fell silent: what came so far goes now
            if batch or skipped:
                yield batch, skipped, place
                batch, skipped = [], 0
            continue
        place = at
        counts.lines += 1
        try:
            delivery = parse(raw.decode("utf-8", "replace"), now=now)
        except Exception:  # a line no parser foresaw skips that line, never the agent
            log.exception("mxagent: a line could not be read: %r", raw[:200])
            delivery = None
        if delivery is None:
            skipped += 1
        else:
            batch.append(delivery.as_json())
        if len(batch) >= size:
            yield batch, skipped, place
            batch, skipped = [], 0
            now = datetime.now(UTC).astimezone()
    if batch or skipped:
        yield batch, skipped, place


def ship(
    lines: Iterable[tuple[bytes | None, Place | None]],
    panel: Panel,
    *,
    counts: Counts,
    commit: Callable[[Place], None] | None = None,
    size: int = BATCH,
) -> None:
    """Every batch of `lines` sent, and its place committed once the panel has it."""
    for batch, skipped, place in batches(lines, size=size, counts=counts):
        if batch or skipped:
            answer = panel.send(batch, skipped)
            counts.shipped += len(batch)
            counts.skipped += skipped
            for key in ("stored", "duplicates", "invalid"):
                setattr(counts, key, getattr(counts, key) + int(answer.get(key, 0)))
        if commit is not None and place is not None:
            commit(place)


def follow(
    logfile: LogFile,
    panel: Panel,
    *,
    once: bool,
    every: float = 1.0,
    keeper: QueueKeeper | None = None,
) -> Counts:
    """Ship what the log holds beyond the state's place, and keep the queue; with `once`,
    one pass of each."""
    counts = Counts()
    while True:
        if keeper is not None:
            keeper.run(panel)
        ship(logfile.lines(), panel, counts=counts, commit=logfile.commit)
        if once:
            return counts
        time.sleep(every)


def stream_lines(fd: int, *, idle: float = 1.0) -> Iterator[tuple[bytes | None, None]]:
    """Lines of a stream (journald's output on stdin: `journalctl -f --cursor-file=...`
    keeps the place), and None whenever it is silent for `idle` seconds."""
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], idle)
        if not ready:
            yield None, None
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            if pending:
                yield pending, None
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line, None
