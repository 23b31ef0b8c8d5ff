"""A real Postfix (Debian's package) on a free loopback port, with a throw-away config.

It is the outbound MTA of the platform: deploy/postfix/main.cf as shipped (Rspamd as
milter, the policy service in smtpd_recipient_restrictions) with the ports of this run,
relaying everything to a local sink. Postfix logs to a file of its own (no syslog here).
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import ssl
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from tests.harness.common import (
    ROOT,
    free_port,
    require_binary,
    self_signed_certificate,
    wait_for,
)

DEPLOY = ROOT / "deploy" / "postfix"


class Postfix:
    def __init__(
        self, *, milter_port: int, policy_port: int, relay_port: int, sasl_port: int | None = None
    ) -> None:
        self.milter_port = milter_port
        self.policy_port = policy_port
        self.relay_port = relay_port
        # Dovecot's auth service for SMTP AUTH on the submission port (tests/harness/dovecot).
        self.sasl_port = sasl_port or free_port()
        self.port = free_port()
        self.fbl: Fbl | None = None
        self.submission_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lws-postfix-"))
        self.conf = self.dir / "conf"

    def _main_cf(self) -> str:
        shipped = (DEPLOY / "main.cf").read_text()
        assert "inet:127.0.0.1:11332" in shipped and "inet:127.0.0.1:10040" in shipped
        shipped = shipped.replace("inet:127.0.0.1:11332", f"inet:127.0.0.1:{self.milter_port}")
        shipped = shipped.replace("inet:127.0.0.1:10040", f"inet:127.0.0.1:{self.policy_port}")
        assert "inet:127.0.0.1:12345" in shipped
        shipped = shipped.replace("inet:127.0.0.1:12345", f"inet:127.0.0.1:{self.sasl_port}")
        cert, key = self_signed_certificate(self.dir, "mx.lwsmail.test")
        if self.fbl is not None:
            shipped += "\n" + self.fbl.main_cf()
        return f"""
compatibility_level = 3.6
queue_directory = {self.dir}/queue
data_directory = {self.dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.lwsmail.test
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{self.relay_port}
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_security_level = none
# The submission service's STARTTLS (it requires TLS before AUTH, as shipped).
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtputf8_enable = no
maillog_file = {self.dir}/maillog
maillog_file_prefixes = {self.dir}
# The tests send in bursts from one client; Postfix must not slow them down.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
# Test harness only: the test client logs in with XCLIENT LOGIN=<mailbox>, which Postfix
# treats as a SASL login (policy service, milter macros, permit_sasl_authenticated)
# without running a SASL server here.
smtpd_authorized_xclient_hosts = 127.0.0.0/8
{shipped}
"""

    def _master_cf(self) -> str:
        # Debian's master.cf with every service out of chroot (nothing is copied into the
        # queue directory), smtpd on this run's port, and the postlog service that
        # maillog_file needs.
        lines = []
        for line in Path("/etc/postfix/master.cf").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 8 and not line[0].isspace() and not line.startswith("#"):
                if fields[0] == "smtp" and fields[1] == "inet":
                    fields[0] = f"127.0.0.1:{self.port}"
                fields[4] = "n"
                line = "  ".join(fields)
            lines.append(line)
        if not any(line.startswith("postlog") for line in lines):
            lines.append("postlog unix-dgram n - n - 1 postlogd")
        # The shipped submission service (STARTTLS, then Dovecot's SMTP AUTH), on a port of
        # this run and out of chroot like the rest.
        shipped = (DEPLOY / "master.cf").read_text()
        assert "submission inet n       -       y" in shipped
        lines.append(
            shipped.replace(
                "submission inet n       -       y",
                f"127.0.0.1:{self.submission_port} inet n       -       n",
            )
        )
        if self.fbl is not None:
            lines.append(self.fbl.master_cf())
        return "\n".join(lines) + "\n"

    def with_fbl(self, *, env: dict[str, str]) -> Postfix:
        """Also receive the FBL address, on an inbound port of its own with no milter, and
        pipe its mail to `manage.py fbl_receive` (deploy/postfix/fbl-*.cf) run with `env`."""
        self.fbl = Fbl(env)
        return self

    def configure(self) -> Postfix:
        """Write the throw-away configuration; `postfix check` must accept it."""
        binary = require_binary("postfix", "postfix")
        self.conf.mkdir()
        (self.conf / "main.cf").write_text(self._main_cf())
        (self.conf / "master.cf").write_text(self._master_cf())
        (self.dir / "data").mkdir()
        (self.dir / "queue").mkdir()
        postfix = pwd.getpwnam("postfix")
        shutil.chown(self.dir / "data", postfix.pw_uid, postfix.pw_gid)
        self.dir.chmod(0o755)  # mkdtemp's 0700 would keep the postfix user out
        self._postfix(binary, "check")
        return self

    def start(self) -> Postfix:
        self.configure()
        self._postfix(require_binary("postfix", "postfix"), "start")
        try:
            wait_for(self.ready, timeout=30, what="postfix")
        except TimeoutError:
            self.stop()
            raise TimeoutError(f"postfix did not start:\n{self.log()[-4000:]}") from None
        return self

    def _postfix(self, binary: str, command: str) -> None:
        result = subprocess.run(
            [binary, "-c", str(self.conf), command], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"postfix {command} failed ({result.returncode}): {result.stderr}\n{self.log()}"
            )

    def submission(self, login: str, password: str) -> smtplib.SMTP:
        """A client of the submission port, after STARTTLS and SMTP AUTH (SMTPAuthenticationError
        with Postfix's reply when the login is refused)."""
        smtp = smtplib.SMTP(
            "127.0.0.1", self.submission_port, local_hostname="client.lwsmail.test", timeout=30
        )
        try:
            smtp.starttls(context=ssl._create_unverified_context())
            smtp.login(login, password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def ready(self) -> bool:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as client:
            return client.noop()[0] == 250

    def client(self, login: str | None = None) -> smtplib.SMTP:
        """An SMTP client; with `login`, authenticated as that mailbox (XCLIENT LOGIN)."""
        smtp = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.lwsmail.test")
        if login:
            smtp.ehlo()
            code, text = smtp.docmd("XCLIENT", f"LOGIN={login}")
            assert code == 220, text
            smtp.ehlo_resp = smtp.helo_resp = None
            smtp.ehlo()
        return smtp

    def sendmail(self, sender: str, recipients: list[str], raw: bytes) -> None:
        """Submit as a website script does: sendmail(1), postdrop, pickup, no smtpd."""
        subprocess.run(
            [
                require_binary("sendmail", "postfix"),
                "-C",
                str(self.conf),
                "-f",
                sender,
                "--",
                *recipients,
            ],
            input=raw,
            check=True,
            capture_output=True,
            timeout=30,
        )

    def postconf(self, *args: str) -> str:
        """postconf's answer for this instance, with $parameters expanded."""
        result = subprocess.run(
            ["postconf", "-c", str(self.conf), "-x", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return result.stdout

    def log(self) -> str:
        path = self.dir / "maillog"
        return path.read_text(errors="replace") if path.exists() else "(no maillog)"

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.conf), "abort"], capture_output=True, timeout=60)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


FBL_ADDRESS = "fbl@fbl.lwsmail.test"


class Fbl:
    """The FBL address's lines as shipped, for this run: its address, an inbound listener
    without the outbound milter (as on the provider's MX), and the pipe to this checkout's
    manage.py run as nobody (pipe refuses root)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()

    def main_cf(self) -> str:
        shipped = (DEPLOY / "fbl-main.cf").read_text()
        assert "fbl@fbl.example.net" in shipped
        return shipped.replace("fbl@fbl.example.net", FBL_ADDRESS)

    def master_cf(self) -> str:
        shipped = (DEPLOY / "fbl-master.cf").read_text()
        command = "/opt/lwsmail/.venv/bin/python /opt/lwsmail/manage.py fbl_receive"
        assert command in shipped and "user=lwsmail" in shipped
        python, path = python_for_nobody()
        env = {**self.env, "PYTHONPATH": path, "HOME": "/tmp"}
        argv = " ".join(
            ["/usr/bin/env", *(f"{k}={v}" for k, v in env.items()), python, str(ROOT / "manage.py")]
        )
        inbound = (
            f"127.0.0.1:{self.port} inet n - n - - smtpd -o smtpd_milters= "
            "-o smtpd_recipient_restrictions=permit_mynetworks,reject"
        )
        return (
            inbound
            + "\n"
            + shipped.replace(command, f"{argv} fbl_receive").replace("user=lwsmail", "user=nobody")
        )

    def send(self, raw: bytes, *, sender: str = "feedback@yahoo.test") -> None:
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="mta.yahoo.test") as smtp:
            smtp.sendmail(sender, [FBL_ADDRESS], raw)


def python_for_nobody() -> tuple[str, str]:
    """An interpreter the unprivileged pipe user can run, and the PYTHONPATH that gives it
    this checkout's packages: this one, unless it lives under a directory others cannot
    enter (pyenv under /root), then the system's of the same version."""
    real = Path(os.path.realpath(sys.executable))
    purelib = sysconfig.get_paths()["purelib"]
    if all(p.stat().st_mode & 0o001 for p in real.parents):
        return str(real), purelib
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        raise RuntimeError(f"{real} is not reachable by nobody, and there is no {system}")
    return str(system), purelib
