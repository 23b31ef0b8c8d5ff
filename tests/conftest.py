from __future__ import annotations

import os

import pytest
import redis as redis_lib
from django.conf import settings
from django.db import connection

from hosting.models import Mailbox
from tests.factories import DomainFactory, MailboxFactory


@pytest.fixture(scope="session", autouse=True)
def _collected_static() -> None:
    # Tests run with production settings: WhiteNoise's manifest must exist, as it does
    # after `collectstatic` in every deployment.
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


def pytest_report_header(config) -> list[str]:
    return [f"CI={os.environ.get('CI', '')!r}; services are required, never skipped"]


@pytest.fixture(autouse=True)
def _postgresql_only(request) -> None:
    # The suite proves behaviour on PostgreSQL (locks, partial indexes); SQLite proves nothing.
    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        assert connection.vendor == "postgresql", "tests must run on PostgreSQL (DATABASE_URL)"


@pytest.fixture(autouse=True)
def _seeded_policy_table(request):
    """A transactional test's flush empties the policy table that the data migration
    seeded, and serialized_rollback does not always bring it back: seed it again the
    same way when a database test finds it empty."""
    uses_db = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
        "live_server",
    } & set(request.fixturenames)
    if not uses_db:
        yield
        return
    import importlib

    from django.apps import apps

    from abuse.models import PolicyTier

    if not PolicyTier.objects.exists():
        importlib.import_module("abuse.migrations.0002_seed_policy").seed(apps, None)
    yield


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    # Each test's database has its own policy rows; never reuse another test's.
    from abuse.counting import policy_cache_clear

    policy_cache_clear()
    yield
    policy_cache_clear()


@pytest.fixture(autouse=True)
def _fresh_drain_flag_trust():
    # Another test's flag, and the drain it woke, are gone with its Redis keys.
    from ingest.events import drain_flag_trust_clear

    drain_flag_trust_clear()
    yield
    drain_flag_trust_clear()


# Names the tests may resolve; no DNS query leaves the machine (its resolver is not on
# loopback). Tests change entries through the `dns` fixture.
FAKE_DNS: dict[str, list[str]] = {
    "localhost": ["127.0.0.1", "::1"],
    "receiver.test": ["127.0.0.1"],
    # A public address, for URLs that are saved but never called in the tests.
    "billing.example.net": ["93.184.216.34"],
}


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> dict[str, list[str]]:
    """The webhooks' name lookups answered from a table, and every HTTP request through
    httpx stopped unless it goes to a loopback address: no test sends a packet elsewhere."""
    import ipaddress
    import socket

    import httpx

    from webhooks import destinations

    table = {name: list(addresses) for name, addresses in FAKE_DNS.items()}

    def resolve(host: str, port: int) -> list[str]:
        if host.lower() not in table:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: not in the tests' DNS table")
        return table[host.lower()]

    monkeypatch.setattr(destinations, "resolve_name", resolve)
    send = httpx.HTTPTransport.handle_request

    def loopback_only(self, request):
        host = request.url.host
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        assert loopback, f"a test tried to reach {request.url} outside loopback"
        return send(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", loopback_only)
    return table


@pytest.fixture
def redis_client() -> redis_lib.Redis:
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    try:
        client.ping()
    except redis_lib.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is required at {settings.REDIS_URL}: {exc}")
    return client


@pytest.fixture
def mailbox(db) -> Mailbox:
    return MailboxFactory(domain=DomainFactory())


@pytest.fixture(scope="session")
def rspamd(live_server):
    """A real Rspamd (deploy/rspamd + test profile) whose metadata_exporter pushes to the
    live test server; scans the panel asks for skip the push."""
    from tests.harness.rspamd import Rspamd
    from tests.tracking.push import PASSWORD

    server = Rspamd(
        ingest_url=f"{live_server.url}/api/ingest/rspamd/",
        password=PASSWORD,
        redis_url=settings.REDIS_URL,
    )
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def ingest_settings(settings, rspamd):
    from tests.harness.rspamd import REFERENCE_KEY
    from tests.tracking.push import PASSWORD

    settings.INGEST_PASSWORD = PASSWORD
    # The key the test Rspamd signs X-LWS-Ref with.
    settings.MESSAGE_REFERENCE_KEY = REFERENCE_KEY
    settings.RSPAMD_URL = rspamd.url
    from ingest.rspamd import _client

    _client.cache_clear()
    yield settings
    _client.cache_clear()
