"""docker-compose.yml, as `docker-compose config` (Debian's docker-compose) reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.harness.common import ROOT, require_binary

LONG_RUNNING = {"postgres", "redis", "rspamd", "web", "worker", "beat", "policyd"}


def compose_config(tmp_path, env: str) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
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
    env = (
        ROOT / ".env.example"
    ).read_text() + "\nINGEST_PASSWORD=s3cret\nPOSTGRES_PASSWORD=pg0s3cret\n"
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


def test_policyd_and_beat_run_the_projects_own_commands(services):
    assert services["policyd"]["command"][:3] == ["python", "manage.py", "policyd"]
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


def test_a_missing_ingest_password_stops_compose_with_a_clear_message(tmp_path):
    env = (ROOT / ".env.example").read_text() + "\nPOSTGRES_PASSWORD=pg0s3cret\n"
    result = compose_config(tmp_path, env)

    assert result.returncode != 0
    assert "set INGEST_PASSWORD in .env" in result.stderr


def test_a_missing_database_password_stops_compose_with_a_clear_message(tmp_path):
    env = (ROOT / ".env.example").read_text() + "\nINGEST_PASSWORD=s3cret\n"
    result = compose_config(tmp_path, env)

    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


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
    }
    env = (
        ROOT / ".env.example"
    ).read_text() + "\nINGEST_PASSWORD=s\nPOSTGRES_PASSWORD=p\nLWSMAIL_BIND_ADDRESS=10.0.0.5\n"
    result = compose_config(tmp_path, env)
    assert result.returncode == 0, result.stderr
    other = yaml.safe_load(result.stdout)["services"]
    assert _published(other["policyd"]) == [("10.0.0.5", "10040")]
    # Prometheus and the mail hosts call the panel at that address too.
    assert other["web"]["environment"]["DJANGO_INTERNAL_HOSTS"] == "web,10.0.0.5"
