"""A real Dovecot (Debian's 2.3) on free loopback ports, authenticating against the test
database with the project's own deploy/dovecot/lwsmail-auth.conf and lwsmail-sql.conf.ext.

Only what is the site's own differs from the shipped files: ports, paths, plain text on
the loopback (no TLS), and where mail lives. The auth service also listens on a port for
the harness's Postfix (smtpd_sasl_type = dovecot), as in the docker-compose stack.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.harness.common import ROOT, background, free_port, listening, require_binary, wait_for

DEPLOY = ROOT / "deploy" / "dovecot"


class Dovecot:
    def __init__(
        self,
        *,
        database: dict,
        auth_conf: str | None = None,
        policy_url: str = "",
        policy_token: str = "",
    ) -> None:
        self.database = database
        # The panel's auth policy (deploy/dovecot/lwsmail-policy.conf), when given.
        self.policy_url, self.policy_token = policy_url, policy_token
        # Another authentication than the shipped one (bench/auth.py compares a passwd-file).
        self.auth_conf = auth_conf
        self.imap_port, self.pop3_port, self.auth_port = free_port(), free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lws-dovecot-"))
        self.dir.chmod(0o755)

    def _write_config(self) -> Path:
        auth = self.auth_conf or (DEPLOY / "lwsmail-auth.conf").read_text()
        for name in ("lwsmail-sql.conf.ext", "lwsmail-sql-state.conf.ext"):
            assert self.auth_conf or f"/etc/dovecot/{name}" in auth
            auth = auth.replace(f"/etc/dovecot/{name}", str(DEPLOY / name))
        (self.dir / "lwsmail-auth.conf").write_text(auth)
        policy = ""
        if self.policy_url:
            header = self.dir / "policy-header"
            header.write_text(f"Authorization: Bearer {self.policy_token}")
            shipped = (DEPLOY / "lwsmail-policy.conf").read_text()
            for old, new in (
                ("http://127.0.0.1:10041/api/authpolicy/", self.policy_url),
                ("/run/lwsmail/policy-header", str(header)),
            ):
                assert old in shipped
                shipped = shipped.replace(old, new)
            (self.dir / "lwsmail-policy.conf").write_text(shipped)
            policy = f"!include {self.dir}/lwsmail-policy.conf"
        mail = pwd.getpwnam("dovecot")
        (self.dir / "mail").mkdir()
        shutil.chown(self.dir / "mail", mail.pw_uid, mail.pw_gid)
        conf = self.dir / "dovecot.conf"
        conf.write_text(
            f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
auth_verbose = yes
# The tests try wrong passwords on purpose; the site keeps its own delay.
auth_failure_delay = 0
protocols = imap pop3
listen = 127.0.0.1
# The tests' IMAP client names the address it stands for (ID x-originating-ip), as a
# webmail does: logins "from" many networks, all on the loopback.
login_trusted_networks = 127.0.0.0/8
ssl = no
disable_plaintext_auth = no
mail_location = maildir:{self.dir}/mail/%d/%n
first_valid_uid = {mail.pw_uid}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={self.dir}/mail/%d/%n
}}
import_environment = TZ PGHOST PGPORT PGDATABASE PGPASSWORD
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
# The tests log in from 127.0.0.1 again and again, wrong passwords included: no anvil
# penalty (the site keeps Dovecot's, and the panel's own brute-force defence).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  inet_listener sasl {{
    address = 127.0.0.1
    port = {self.auth_port}
  }}
}}
!include {self.dir}/lwsmail-auth.conf
{policy}
"""
        )
        return conf

    def env(self) -> dict[str, str]:
        db = self.database
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "TZ": "UTC",
            "PGHOST": db.get("HOST") or "127.0.0.1",
            "PGPORT": str(db.get("PORT") or 5432),
            "PGDATABASE": db["NAME"],
            "PGPASSWORD": db.get("DOVECOT_PASSWORD", ""),
        }

    @contextlib.contextmanager
    def running(self) -> Iterator[Dovecot]:
        binary = require_binary("dovecot", "dovecot-core")
        require_binary("doveconf", "dovecot-core")
        conf = self._write_config()
        with background([binary, "-F", "-c", str(conf)], env=self.env(), log=self.dir / "out"):
            try:
                wait_for(
                    lambda: listening(self.imap_port) and listening(self.auth_port),
                    timeout=30,
                    what="dovecot",
                )
            except TimeoutError:
                raise TimeoutError(f"dovecot did not start:\n{self.log()}") from None
            yield self

    def log(self) -> str:
        parts = []
        for name in ("out", "dovecot.log"):
            path = self.dir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
