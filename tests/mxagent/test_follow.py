"""The agent's place in Postfix's log: kept across restarts, followed across rotations, a
partial last line left for later; nothing lost, nothing read twice."""

from __future__ import annotations

import os

import pytest

from mxagent.follow import LogFile


def read_all(log, state) -> list[bytes]:
    logfile = LogFile(log, state)
    read = list(logfile.lines())
    if read:
        logfile.commit(read[-1][1])
    return [line for line, _ in read]


def test_a_restart_resumes_after_the_last_committed_line(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "state.json"
    log.write_bytes(b"one\ntwo\n")
    assert read_all(log, state) == [b"one", b"two"]
    with open(log, "ab") as f:
        f.write(b"three\nfou")  # Postfix is still writing the fourth
    assert read_all(log, state) == [b"three"]
    with open(log, "ab") as f:
        f.write(b"r\n")
    assert read_all(log, state) == [b"four"]
    assert read_all(log, state) == []


def test_lines_not_committed_are_read_again(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "state.json"
    log.write_bytes(b"one\ntwo\n")
    logfile = LogFile(log, state)
    assert [line for line, _ in logfile.lines()] == [b"one", b"two"]  # died before shipping
    assert read_all(log, state) == [b"one", b"two"]


def test_a_rotated_log_is_finished_before_the_new_one_is_read(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "state.json"
    log.write_bytes(b"one\n")
    assert read_all(log, state) == [b"one"]
    with open(log, "ab") as f:
        f.write(b"two\n")
    os.rename(log, tmp_path / "mail.log.1")  # logrotate, while the agent was away
    log.write_bytes(b"three\n")
    assert read_all(log, state) == [b"two", b"three"]
    assert read_all(log, state) == []


def test_a_truncated_log_is_read_from_its_start(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "state.json"
    log.write_bytes(b"one\ntwo\n")
    read_all(log, state)
    log.write_bytes(b"x\n")  # copytruncate, then a new line
    assert read_all(log, state) == [b"x"]


def test_a_state_file_that_is_not_one_is_a_clear_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{nonsense")
    with pytest.raises(ValueError, match="not a state file of the agent"):
        LogFile(tmp_path / "mail.log", state)
