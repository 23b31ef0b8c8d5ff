"""IMAP logins through a real Dovecot against the panel's database, beside the same
Dovecot reading the same hashes from a passwd-file: what the panel's PostgreSQL costs the
mail server per login, beyond the hash check both make.

10^5 mailboxes (1,000 domains) with {BLF-CRYPT} hashes at the panel's cost (2^10), one
Dovecot per passdb with the same settings (deploy/dovecot's, no auth cache), the same
load: C concurrent IMAP clients, each LOGIN as a random mailbox then LOGOUT, N logins a
round; the rounds alternate (sql, passwd-file, sql, …) so that both see the same machine.
Prints the login rates, their ratio and the p99 of a login.

  make bench-auth
  make bench-auth BENCH_ARGS="--mailboxes 100000 --logins 400 --clients 16 --rounds 3"
"""

from __future__ import annotations

import argparse
import imaplib
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT, mailboxes_load, quantile, recreate_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/lwsmail_bench_auth"
PASSWORD = "Bench-password-2026"
ROLE_PASSWORD = "bench-dovecot-role-password"

PASSWD_FILE_AUTH = """
auth_username_format = %Lu
auth_mechanisms = plain login
auth_cache_size = 0
passdb {{
  driver = passwd-file
  args = scheme=BLF-CRYPT {path}
}}
"""


def load_mailboxes(count: int) -> str:
    """`count` mailboxes over 1,000 domains, all with one hash (bcrypt makes 10^5 distinct
    ones a matter of hours, and the check costs the same for any): returns the hash."""
    from hosting.passwords import dovecot_hash

    stored = dovecot_hash(PASSWORD)
    mailboxes_load(count=count, hostings=1, password_hash=stored)
    return stored


def one_round(port: int, *, count: int, logins: int, clients: int, seed: int) -> dict:
    rng = random.Random(seed)
    users = [f"box{n}@d{n % 1000}.bench.example" for n in rng.sample(range(count), logins)]

    def login(user: str) -> float:
        started = time.perf_counter()
        with imaplib.IMAP4("127.0.0.1", port, timeout=60) as client:
            client.login(user, PASSWORD)
            client.logout()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(login, users))
    elapsed = time.perf_counter() - started
    return {"rate": logins / elapsed, "latencies": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--logins", type=int, default=300, help="logins a round")
    parser.add_argument("--clients", type=int, default=16, help="concurrent IMAP clients")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each passdb")
    args = parser.parse_args()

    recreate_database(args.db)
    setup_django(args.db)
    from django.db import connection

    from mailaccess.services import dovecot_role_configure
    from tests.harness.dovecot import Dovecot

    stored = load_mailboxes(args.mailboxes)
    dovecot_role_configure(password=ROLE_PASSWORD)
    database = dict(connection.settings_dict, DOVECOT_PASSWORD=ROLE_PASSWORD)
    work = Path(ROOT / ".run" / "bench-auth")
    work.mkdir(parents=True, exist_ok=True)
    passwd = work / "passwd"
    with connection.cursor() as cur:
        cur.execute("SELECT address FROM lwsmail_mailbox")
        passwd.write_text("".join(f"{a}:{stored}\n" for (a,) in cur.fetchall()))
    print(
        f"{args.mailboxes} mailboxes, {{BLF-CRYPT}} cost 2^10; {args.clients} IMAP clients, "
        f"{args.logins} logins a round, {args.rounds} rounds each"
    )

    servers = {
        "sql": Dovecot(database=database),
        "passwd-file": Dovecot(database=database, auth_conf=PASSWD_FILE_AUTH.format(path=passwd)),
    }
    results: dict[str, list[dict]] = {name: [] for name in servers}
    with servers["sql"].running(), servers["passwd-file"].running():
        for server in servers.values():  # warm: processes forked, connections open
            one_round(server.imap_port, count=args.mailboxes, logins=32, clients=8, seed=0)
        for n in range(args.rounds):
            for name, server in servers.items():
                result = one_round(
                    server.imap_port,
                    count=args.mailboxes,
                    logins=args.logins,
                    clients=args.clients,
                    seed=n + 1,
                )
                results[name].append(result)
                print(
                    f"  round {n + 1} {name:<11} {result['rate']:7.1f} logins/s, "
                    f"p99 {quantile(result['latencies'], 99) * 1000:.1f} ms"
                )
    for server in servers.values():
        server.cleanup()

    summary = {}
    for name, rounds in results.items():
        rate = sum(args.logins for _ in rounds) / sum(args.logins / r["rate"] for r in rounds)
        latencies = [x for r in rounds for x in r["latencies"]]
        summary[name] = (rate, quantile(latencies, 99) * 1000)
        print(f"{name}: {rate:.1f} logins/s, p99 per login {summary[name][1]:.1f} ms")
    print(f"sql/passwd-file login rate: {summary['sql'][0] / summary['passwd-file'][0]:.2f}")


if __name__ == "__main__":
    main()
