"""Postfix's log file followed across rotations, with the place reached kept in a state
file: a restart resumes where the last shipped batch ended, so nothing is lost or read
twice (the panel also stores a line once however often it comes).

The state names the file by its inode and an offset. At start, a file that is no longer
the one at `path` (rotated: mail.log became mail.log.1) is finished from the rotated
copy first, found by its inode among `path`.1 and `path`-*; then `path` is read from 0."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass
class Place:
    inode: int
    offset: int


def place_load(state: Path) -> Place | None:
    try:
        data = json.loads(state.read_text())
        return Place(int(data["inode"]), int(data["offset"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{state}: not a state file of the agent ({exc})") from None


def place_save(state: Path, place: Place) -> None:
    """Written whole or not at all (a crash mid-write leaves the previous place)."""
    temporary = state.with_name(state.name + ".tmp")
    temporary.write_text(json.dumps({"inode": place.inode, "offset": place.offset}))
    os.replace(temporary, state)


def _rotated(path: Path, inode: int) -> Path | None:
    for candidate in [path.with_name(path.name + ".1"), *path.parent.glob(path.name + "-*")]:
        try:
            if candidate.stat().st_ino == inode and not candidate.name.endswith(".gz"):
                return candidate
        except OSError:
            continue
    return None


class LogFile:
    """Complete lines from where the state says, each with the place after it."""

    def __init__(self, path: Path, state: Path) -> None:
        self.path, self.state = path, state
        self.place = place_load(state)
        self.partial = b""

    def _read(self, file: Path, offset: int) -> Iterator[tuple[bytes, Place]]:
        with open(file, "rb") as handle:
            inode = os.fstat(handle.fileno()).st_ino
            handle.seek(offset)
            self.partial = b""
            while chunk := handle.read(CHUNK):
                data = self.partial + chunk
                lines = data.split(b"\n")
                self.partial = lines.pop()
                for line in lines:
                    offset += len(line) + 1
                    yield line, Place(inode, offset)

    def lines(self) -> Iterator[tuple[bytes, Place]]:
        """Every complete line not yet read; a partial last line waits for its end."""
        try:
            current = self.path.stat().st_ino
        except FileNotFoundError:
            return
        place = self.place
        if place is not None and place.inode != current:
            rotated = _rotated(self.path, place.inode)
            if rotated is not None:
                yield from self._read(rotated, place.offset)
            place = None
        if place is not None and self.path.stat().st_size < place.offset:
            place = None  # truncated (copytruncate): start again from its beginning
        yield from self._read(self.path, place.offset if place is not None else 0)

    def commit(self, place: Place) -> None:
        """The lines up to `place` were shipped."""
        self.place = place
        place_save(self.state, place)
