"""The stack's own services call the panel over its private network with the production
settings as shipped: Rspamd pushes to http://web:8000/api/ingest/rspamd/ (plain HTTP, Host
web:8000), Prometheus scrapes /metrics, the health check calls /healthz. Run here as the
web container runs: gunicorn with gunicorn.conf.py and the environment docker-compose
gives it from .env.example, only the database, Redis and the secrets pointed at this
machine's."""

from __future__ import annotations

import sys

import httpx
import pytest
import yaml

from tests.harness.common import ROOT, background, free_port, listening, wait_for
from tests.lwsmail.test_docker_compose import compose_config
from tests.tracking.push import PASSWORD, push_headers, raw_message
from tests.workers import worker_env
from tracking.models import IngestEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TOKEN = "metrics-token-of-the-tests-0123456789"


def dotenv(text: str) -> dict[str, str]:
    pairs = (line.partition("=") for line in text.splitlines())
    return {k.strip(): v.strip() for k, sep, v in pairs if sep and not k.lstrip().startswith("#")}


@pytest.fixture
def web(tmp_path):
    """gunicorn with the web service's environment from `docker-compose config`."""
    shipped = (ROOT / ".env.example").read_text()
    secrets = (
        f"\nINGEST_PASSWORD={PASSWORD}\nPOSTGRES_PASSWORD=pw0123456789\n"
        "DOVECOT_DB_PASSWORD=dovecot0s3cret0long\nDOVECOT_TLS_DIR=/etc/ssl/mail\n"
        "AUTHPOLICY_TOKEN=policy0s3cret\n"
    )
    result = compose_config(tmp_path, shipped + secrets)
    assert result.returncode == 0, result.stderr
    compose = yaml.safe_load(result.stdout)["services"]["web"]["environment"]
    env = {**dotenv(shipped), **{k: str(v) for k, v in compose.items()}}
    assert env["DJANGO_DEBUG"] == "0" and env["SECURE_SSL_REDIRECT"] == "1"
    local = worker_env()  # this machine's PostgreSQL (the test database) and Redis
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        env[name] = local[name if name != "CELERY_BROKER_URL" else "REDIS_URL"]
    env |= {
        "PATH": local["PATH"],
        "DJANGO_SECRET_KEY": "a-production-like-secret-key-0123456789abcdefghijklmnopqrstuv",
        "INGEST_PASSWORD": PASSWORD,
        "METRICS_TOKEN": TOKEN,
    }
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "lwsmail.wsgi", "--config", "gunicorn.conf.py"]
    args += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with background(args, env=env, log=tmp_path / "web.log") as proc:
        wait_for(lambda: listening(port), timeout=30, what="gunicorn")
        yield f"http://127.0.0.1:{port}", proc, tmp_path / "web.log"


def test_rspamd_pushes_to_web_8000_over_plain_http_and_it_is_stored(web, mailbox):
    base, _proc, log = web
    headers = {**push_headers(sender=mailbox.address, qid="INTERNAL1"), "Host": "web:8000"}

    response = httpx.post(
        f"{base}/api/ingest/rspamd/", content=raw_message(mailbox.address), headers=headers
    )

    assert response.status_code == 200, (response.text, log.read_text()[-2000:])
    assert IngestEvent.objects.filter(meta__qid="INTERNAL1").exists()


def test_prometheus_and_the_health_check_are_answered_over_the_private_network(web):
    base, _proc, _log = web
    auth = {"Authorization": f"Bearer {TOKEN}", "Host": "web:8000"}

    metrics = httpx.get(f"{base}/metrics", headers=auth)
    health = httpx.get(f"{base}/healthz", headers={"Host": "web:8000"})

    assert metrics.status_code == 200 and "lwsmail_" in metrics.text
    assert health.status_code == 200


def test_the_panels_pages_stay_https_only_and_strangers_hosts_are_refused(web, mailbox):
    base, _proc, _log = web

    page = httpx.get(f"{base}/accounts/login/", headers={"Host": "web:8000"})
    stranger = httpx.post(
        f"{base}/api/ingest/rspamd/",
        content=raw_message(mailbox.address),
        headers={**push_headers(sender=mailbox.address, qid="STRANGER"), "Host": "evil.example"},
    )

    assert page.status_code == 301 and page.headers["Location"].startswith("https://")
    assert stranger.status_code == 400
    assert not IngestEvent.objects.filter(meta__qid="STRANGER").exists()
