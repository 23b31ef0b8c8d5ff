"""docker-compose.yml, as `docker-compose config` (Debian's docker-compose) reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.harness.common import ROOT, require_binary

LONG_RUNNING = {
    *("postgres", "redis", "rspamd", "web", "worker", "beat", "policyd", "authpolicyd"),
    *("dovecot", "ingest"),
}
SECRETS = (
    "\nINGEST_PASSWORD=s3cret\nPOSTGRES_PASSWORD=pg0s3cret\n"
    "DOVECOT_DB_PASSWORD=dovecot0s3cret0long\nDOVECOT_TLS_DIR=/etc/ssl/mail\n"
    "AUTHPOLICY_TOKEN=policy0s3cret\n"
)


def compose_config(tmp_path, env: str) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    # The paths it builds and mounts from, as in the checkout.
    if not (tmp_path / "deploy").exists():
        (tmp_path / "deploy").symlink_to(ROOT / "deploy")
    (tmp_path / ".env").write_text(env)
    return subprocess.run(
        [require_binary("docker-compose", "docker-compose"), "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def services(tmp_path) -> dict:
    env = (ROOT / ".env.example").read_text() + SECRETS
    result = compose_config(tmp_path, env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_it_runs_the_whole_stack_with_healthchecks_and_restart_policies(services):
    assert set(services) == LONG_RUNNING | {"migrate"}
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["restart"] == "no"


def test_the_app_waits_for_its_database_and_the_migrations(services):
    for name in ("web", "worker", "beat"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
        assert needs["postgres"]["condition"] == "service_healthy", name


def test_rspamd_runs_the_shipped_config_pushing_to_the_panel_and_reading_its_redis(services):
    rspamd = services["rspamd"]
    # docker-compose 1.x prints the short syntax: source:target[:mode]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in rspamd["volumes"]}
    assert mounts["/etc/rspamd/local.d"].endswith("deploy/rspamd/local.d")
    assert "--var=LWSMAIL_INGEST_PASSWORD=s3cret" in rspamd["command"]
    assert "--var=LWSMAIL_REDIS_SERVERS=redis:6379" in rspamd["command"]
    assert services["web"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_rspamd_appends_to_the_stream_the_ingest_service_records(services):
    stream = services["ingest"]["environment"].get("INGEST_STREAM", "lwsmail:ingest:stream")
    assert f"--var=LWSMAIL_INGEST_STREAM={stream}" in services["rspamd"]["command"]
    assert services["ingest"]["command"][3:6] == ["python", "manage.py", "ingest_stream"]
    assert services["ingest"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_policyd_and_beat_run_the_projects_own_commands(services):
    assert services["policyd"]["command"][:3] == ["python", "manage.py", "policyd"]
    assert services["authpolicyd"]["command"][:3] == ["python", "manage.py", "authpolicyd"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "lwsmail", "beat"]


def test_the_web_container_runs_gunicorn_as_the_benches_measured_it():
    cmd = json.loads((ROOT / "Dockerfile").read_text().split("\nCMD ", 1)[1].splitlines()[0])
    assert cmd[:4] == ["gunicorn", "lwsmail.wsgi", "--config", "gunicorn.conf.py"]
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", *cmd[1:], "--print-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    config = dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition("=") for line in printed.stdout.splitlines())
    )
    assert (config["worker_class"], config["workers"], config["threads"]) == ("gthread", "2", "4")
    assert config["bind"] == "['0.0.0.0:8000']"


@pytest.mark.parametrize(
    "missing",
    [
        "INGEST_PASSWORD",
        "POSTGRES_PASSWORD",
        "DOVECOT_DB_PASSWORD",
        "DOVECOT_TLS_DIR",
        "AUTHPOLICY_TOKEN",
    ],
)
def test_a_missing_secret_stops_compose_with_a_clear_message(tmp_path, missing):
    secrets = "\n".join(line for line in SECRETS.splitlines() if not line.startswith(missing))
    result = compose_config(tmp_path, (ROOT / ".env.example").read_text() + secrets + "\n")

    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr


def test_the_database_password_comes_from_env_and_is_written_nowhere_in_the_stack(services):
    assert "lwsmail:lwsmail" not in (ROOT / "docker-compose.yml").read_text()
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg0s3cret"
    for name in ("web", "worker", "beat", "policyd", "migrate"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert url == "postgres://lwsmail:pg0s3cret@postgres:5432/lwsmail", name


def _published(service: dict) -> list[tuple[str, str]]:
    """(host address, port) of each published port; "0.0.0.0" when bound to every interface."""
    result = []
    for port in service["ports"]:
        if isinstance(port, dict):  # the long syntax, as newer docker compose prints it
            result.append((port.get("host_ip", "0.0.0.0"), str(port["published"])))
        else:  # docker-compose 1.x: "HOST_IP:PUBLISHED:TARGET/tcp"
            parts = port.split("/")[0].split(":")
            result.append((parts[0] if len(parts) == 3 else "0.0.0.0", parts[-2]))
    return result


def test_published_ports_listen_on_loopback_unless_told_otherwise(services, tmp_path):
    published = {name: _published(s) for name, s in services.items() if s.get("ports")}

    assert published == {
        "web": [("127.0.0.1", "8000")],
        "rspamd": [("127.0.0.1", "11332")],
        "policyd": [("127.0.0.1", "10040")],
        "authpolicyd": [("127.0.0.1", "10041")],
        "dovecot": [
            ("127.0.0.1", "143"),
            ("127.0.0.1", "993"),
            ("127.0.0.1", "110"),
            ("127.0.0.1", "995"),
            ("127.0.0.1", "12345"),
        ],
    }
    env = (ROOT / ".env.example").read_text() + SECRETS + "LWSMAIL_BIND_ADDRESS=10.0.0.5\n"
    env += "DOVECOT_BIND_ADDRESS=0.0.0.0\n"
    result = compose_config(tmp_path, env)
    assert result.returncode == 0, result.stderr
    other = yaml.safe_load(result.stdout)["services"]
    assert _published(other["policyd"]) == [("10.0.0.5", "10040")]
    assert _published(other["authpolicyd"]) == [("10.0.0.5", "10041")]
    # The customers' mail programs reach IMAP and POP3; only the mail hosts SMTP AUTH.
    assert ("0.0.0.0", "993") in _published(other["dovecot"])
    assert ("10.0.0.5", "12345") in _published(other["dovecot"])
    # Prometheus and the mail hosts call the panel at that address too.
    assert other["web"]["environment"]["DJANGO_INTERNAL_HOSTS"] == "web,10.0.0.5"


def test_dovecot_runs_the_shipped_configuration_against_the_panels_database(services):
    dovecot = services["dovecot"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in dovecot["volumes"]}
    for name in (
        "dovecot.conf",
        "lwsmail-auth.conf",
        "lwsmail-sql.conf.ext",
        "lwsmail-sql-state.conf.ext",
        "lwsmail-policy.conf",
    ):
        assert mounts[f"/etc/dovecot/{name}"].endswith(f"deploy/dovecot/{name}"), name
    assert mounts["/etc/dovecot/tls"] == "/etc/ssl/mail"
    environment = dovecot["environment"]
    assert (environment["PGHOST"], environment["PGDATABASE"]) == ("postgres", "lwsmail")
    assert environment["PGPASSWORD"] == "dovecot0s3cret0long"
    assert dovecot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # The role Dovecot logs in as gets its password once the migrations made it.
    assert "manage.py dovecot_role" in " ".join(services["migrate"]["command"])
    # Dovecot reports every login to the panel with the token the panel checks.
    assert environment["AUTHPOLICY_TOKEN"] == "policy0s3cret"
    assert "/run/lwsmail/policy-header" in dovecot["command"][-1]
