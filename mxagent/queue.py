"""Postfix's queue kept as the panel says: the queued mail of every blocked or held sender
put on hold (`postsuper -h`), released when the block ends (`postsuper -H`, then
`postqueue -i` so it leaves at once), deleted when staff ask (`postsuper -d`). Only what
the agent itself held is ever released: a message held by hand stays held.

postqueue runs as any user; postsuper only as root: give the agent's user a sudo rule for
exactly `postsuper -h -`, `-H -` and `-d -` and `postcat -hq *` (deploy/mxagent)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from email.policy import default as default_policy
from pathlib import Path

log = logging.getLogger("mxagent")

# The subjects of the first held messages are read (postcat, one process each), once each.
MAX_SUBJECTS = 200
_subjects: dict[str, str] = {}


@dataclass(frozen=True)
class Postfix:
    """How to call Postfix's tools on this host: their `-c` config directory, and the
    prefix postsuper and postcat need (sudo -n) when the agent is not root."""

    config: str | None = None
    privileged: Sequence[str] = ()

    def _args(self, tool: str, *args: str, privileged: bool = False) -> list[str]:
        prefix = list(self.privileged) if privileged else []
        config = ["-c", self.config] if self.config else []
        return [*prefix, tool, *config, *args]

    def queue(self) -> list[dict]:
        """Every queued message, as `postqueue -j` lists it."""
        run = subprocess.run(
            self._args("postqueue", "-j"), capture_output=True, text=True, timeout=120
        )
        if run.returncode:
            raise RuntimeError(f"postqueue -j: {run.stderr.strip()[:300]}")
        out = []
        for line in run.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                log.warning("mxagent: postqueue -j printed a line that is not JSON: %r", line[:200])
        return out

    def super(self, flag: str, queue_ids: list[str]) -> None:
        """postsuper -h/-H/-d on these ids (read from stdin: no argument list limit)."""
        if not queue_ids:
            return
        run = subprocess.run(
            self._args("postsuper", flag, "-", privileged=True),
            input="\n".join(queue_ids) + "\n",
            capture_output=True,
            text=True,
            timeout=300,
        )
        if run.returncode:
            raise RuntimeError(f"postsuper {flag}: {run.stderr.strip()[:300]}")

    def flush(self, queue_ids: list[str]) -> None:
        """Deliver these (released) messages now rather than at their next retry."""
        for queue_id in queue_ids:
            subprocess.run(self._args("postqueue", "-i", queue_id), capture_output=True, timeout=60)

    def subject(self, queue_id: str) -> str:
        run = subprocess.run(
            self._args("postcat", "-hq", queue_id, privileged=True),
            capture_output=True,
            timeout=60,
        )
        if run.returncode:
            return ""
        headers = HeaderParser(policy=default_policy).parsestr(
            run.stdout.decode("utf-8", "replace"), headersonly=True
        )
        try:
            return str(headers.get("Subject", ""))[:998]
        except Exception:  # a header no policy can decode is shown as nothing
            return ""


@dataclass(frozen=True)
class Wanted:
    """What the panel wants held (`GET /api/v1/queue/`)."""

    addresses: frozenset[str]
    domains: frozenset[str]
    delete: frozenset[str]

    def holds(self, sender: str) -> bool:
        sender = sender.lower()
        return sender in self.addresses or sender.rpartition("@")[2] in self.domains


def held_load(path: Path) -> set[str]:
    try:
        return set(json.loads(path.read_text()))
    except FileNotFoundError:
        return set()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a held-list file of the agent ({exc})") from None


def held_save(path: Path, held: set[str]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(sorted(held)))
    os.replace(temporary, path)


def reconcile(postfix: Postfix, wanted: Wanted, ours: set[str]) -> tuple[list[dict], set[str]]:
    """Hold, release and delete as `wanted` says: the messages held for the panel now (as
    reported to it) and the ids the agent holds (kept in its state)."""
    queued = postfix.queue()
    present = {m["queue_id"] for m in queued}
    ours = ours & present  # delivered, expired or deleted meanwhile
    to_hold = [
        m["queue_id"]
        for m in queued
        if m.get("queue_name") != "hold" and wanted.holds(m.get("sender", ""))
    ]
    to_release = [
        m["queue_id"]
        for m in queued
        if m.get("queue_name") == "hold"
        and m["queue_id"] in ours
        and not wanted.holds(m.get("sender", ""))
        and m["queue_id"] not in wanted.delete
    ]
    to_delete = [m["queue_id"] for m in queued if m["queue_id"] in wanted.delete & ours]
    postfix.super("-h", to_hold)
    ours |= set(to_hold)
    postfix.super("-H", to_release)
    postfix.flush(to_release)
    postfix.super("-d", to_delete)
    ours -= set(to_release) | set(to_delete)
    if to_hold or to_release or to_delete:
        log.info(
            "mxagent: queue: %d held, %d released, %d deleted",
            len(to_hold),
            len(to_release),
            len(to_delete),
        )
    for gone in set(_subjects) - ours:
        del _subjects[gone]
    report = []
    for n, message in enumerate(m for m in queued if m["queue_id"] in ours):
        queue_id = message["queue_id"]
        if queue_id not in _subjects and n < MAX_SUBJECTS:
            _subjects[queue_id] = postfix.subject(queue_id)
        report.append(
            {
                "queue_id": queue_id,
                "sender": message.get("sender", ""),
                "recipients": [r.get("address", "") for r in message.get("recipients", [])],
                "subject": _subjects.get(queue_id, ""),
                "arrived": message.get("arrival_time"),
            }
        )
    return report, ours
