"""A real Rspamd on free loopback ports, configured with deploy/rspamd and its test profile."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import httpx

from tests.harness.common import ROOT, free_port, require_binary, wait_for

DEPLOY = ROOT / "deploy" / "rspamd"
# The key of the signed reference header (the panel's MESSAGE_REFERENCE_KEY in tests).
REFERENCE_KEY = "reference-key-of-the-tests"


class Rspamd:
    def __init__(
        self,
        *,
        ingest_url: str | None = None,
        user: str = "rspamd",
        password: str = "",
        redis_url: str | None = None,
        stream: str = "",
        stream_max: int | None = None,
    ) -> None:
        self.ingest_url = ingest_url
        # The panel's INGEST_STREAM: appended to instead of pushed to (needs redis_url).
        self.stream = stream
        self.stream_max = stream_max
        self.redis = urlparse(redis_url) if redis_url else None
        self.user = user
        self.password = password
        self.normal_port = free_port()
        self.proxy_port = free_port()
        self.controller_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lws-rspamd-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.normal_port}"

    def _write_config(self) -> None:
        local = self.dir / "local.d"
        shutil.copytree(DEPLOY / "local.d", local, dirs_exist_ok=True)
        shutil.copytree(DEPLOY / "maps", self.dir / "maps", dirs_exist_ok=True)
        shutil.copy(DEPLOY / "rspamd.local.lua", self.dir / "rspamd.local.lua")
        shutil.copy(DEPLOY / "rspamd.conf.local", self.dir / "rspamd.conf.local")
        shutil.copytree(DEPLOY / "test" / "local.d", local, dirs_exist_ok=True)
        (local / "worker-normal.inc").write_text(f'bind_socket = "127.0.0.1:{self.normal_port}";\n')
        (local / "worker-controller.inc").write_text(
            f'bind_socket = "127.0.0.1:{self.controller_port}";\n'
        )
        proxy = (DEPLOY / "local.d" / "worker-proxy.inc").read_text()
        (local / "worker-proxy.inc").write_text(
            proxy.replace('"*:11332"', f'"127.0.0.1:{self.proxy_port}"')
        )
        if self.ingest_url is None:
            (local / "metadata_exporter.conf").write_text("enabled = false;\n")
        for sub in ("db", "run", "log"):
            (self.dir / sub).mkdir(exist_ok=True)

    def start(self) -> Rspamd:
        binary = require_binary("rspamd", "rspamd")
        self._write_config()
        variables = {
            "LOCAL_CONFDIR": self.dir,
            "DBDIR": self.dir / "db",
            "RUNDIR": self.dir / "run",
            "LOGDIR": self.dir / "log",
            "LWSMAIL_INGEST_URL": self.ingest_url or "",
            "LWSMAIL_INGEST_USER": self.user,
            "LWSMAIL_INGEST_PASSWORD": self.password,
            "LWSMAIL_REFERENCE_KEY": REFERENCE_KEY,
            "LWSMAIL_INGEST_STREAM": self.stream,
            "LWSMAIL_INGEST_STREAM_MAX": "" if self.stream_max is None else self.stream_max,
            # The blocked-senders map (multimap) reads the panel's Redis database.
            # Without it multimap logs "no redis servers" and skips the map's rules.
            "LWSMAIL_REDIS_SERVERS": (
                f"{self.redis.hostname}:{self.redis.port or 6379}" if self.redis else ""
            ),
            "LWSMAIL_REDIS_DB": (self.redis.path.strip("/") if self.redis else "") or "0",
        }
        args = [binary, "-f", "-i", "-u", "root", "-g", "root", "-c", "/etc/rspamd/rspamd.conf"]
        args += [f"--var={k}={v}" for k, v in variables.items()]
        self.log = open(self.dir / "rspamd.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for(self.ready, timeout=60, what="rspamd")
        except TimeoutError:
            self.stop()
            raise TimeoutError(f"rspamd did not start:\n{self.output()[-4000:]}") from None
        return self

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"rspamd exited:\n{self.output()[-4000:]}")
        try:
            return httpx.get(f"{self.url}/ping", timeout=1).text.strip() == "pong"
        except httpx.TransportError:
            return False

    def output(self) -> str:
        return (self.dir / "rspamd.out").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(Exception):
            self.log.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
