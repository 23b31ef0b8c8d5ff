"""python -m mxagent --panel https://panel.example.net --log /var/log/mail.log
--state /var/lib/mxagent/state.json (the token in MXAGENT_TOKEN or --token-file)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

from mxagent.agent import (
    Counts,
    LogFile,
    Panel,
    Postfix,
    QueueKeeper,
    Refused,
    follow,
    ship,
    stream_lines,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mxagent", description="Ship Postfix's delivery results to the lwsmail panel."
    )
    parser.add_argument("--panel", required=True, help="the panel's base URL")
    parser.add_argument("--token-file", type=Path, help="a file holding the API token")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", type=Path, help="Postfix's log file, followed across rotations")
    source.add_argument("--stdin", action="store_true", help="read the log from stdin")
    parser.add_argument("--state", type=Path, help="where the place in --log is kept")
    parser.add_argument("--host", default=socket.gethostname(), help="this mail host's name")
    parser.add_argument("--once", action="store_true", help="one pass, then stop")
    parser.add_argument(
        "--queue",
        action="store_true",
        help="hold the queued mail of blocked senders (postqueue, postsuper, postcat)",
    )
    parser.add_argument("--postfix-config", help="Postfix's configuration directory (-c)")
    parser.add_argument(
        "--sudo", action="store_true", help="run postsuper and postcat through sudo -n"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    if args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            parser.error(f"--token-file: {exc}")
    else:
        token = os.environ.get("MXAGENT_TOKEN", "").strip()
    if not token:
        parser.error("the API token: set MXAGENT_TOKEN or give --token-file")
    if (args.log is not None or args.queue) and args.state is None:
        parser.error("--log and --queue need --state (where the agent keeps its place)")
    keeper = None
    if args.queue:
        if args.stdin:
            parser.error("--queue goes with --log (the agent keeps the queue between reads)")
        postfix = Postfix(args.postfix_config, ("sudo", "-n") if args.sudo else ())
        keeper = QueueKeeper(postfix, args.state.with_name(args.state.stem + "-held.json"))
    panel = Panel(args.panel, token, host=args.host)
    try:
        if args.stdin:
            counts = Counts()
            ship(stream_lines(sys.stdin.fileno()), panel, counts=counts)
        else:
            try:
                logfile = LogFile(args.log, args.state)
            except ValueError as exc:
                parser.error(str(exc))
            counts = follow(logfile, panel, once=args.once, keeper=keeper)
    except Refused as exc:
        print(f"mxagent: the panel refused this agent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    print(
        f"mxagent: {counts.lines} lines read, {counts.shipped} deliveries shipped "
        f"({counts.stored} stored, {counts.duplicates} already there, {counts.invalid} "
        f"refused), {counts.skipped} other lines skipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
