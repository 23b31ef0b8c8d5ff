"""deploy/proxy/lwsmail.conf in a real nginx (Debian's nginx-light) in front of the panel:
HTTPS to the pages with the client's address and scheme passed on (TRUSTED_PROXIES), the
internal endpoints never served on the public side."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from axes.models import AccessAttempt

from tests.harness.common import ROOT, background, free_port, listening, require_binary, wait_for
from tracking.models import IngestEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def proxy(tmp_path, live_server, settings):
    nginx = require_binary("nginx", "nginx-light")
    openssl = require_binary("openssl", "openssl")
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    settings.ALLOWED_HOSTS = ["panel.example.net"]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=panel.example.net", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    http_port, https_port = free_port(), free_port()
    upstream = live_server.url.removeprefix("http://")
    site = (ROOT / "deploy/proxy/lwsmail.conf").read_text()
    # This machine's ports and certificate in place of the example's; nothing else changes.
    for old, new in [
        ("server 127.0.0.1:8000;", f"server {upstream};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:80;", ""),
        ("listen [::]:443 ssl http2;", ""),
        ("/etc/letsencrypt/live/panel.example.net/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/panel.example.net/privkey.pem", str(key)),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "lwsmail.conf").write_text(site)
    temp = "".join(
        f"{kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        + f"events {{}}\nhttp {{\naccess_log {tmp_path}/access.log;\n{temp}"
        + f"include {tmp_path}/lwsmail.conf;\n}}\n"
    )
    args = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"]
    with background(args, env=dict(os.environ), log=tmp_path / "nginx.out"):
        wait_for(lambda: listening(https_port), timeout=20, what="nginx")
        client = httpx.Client(
            base_url=f"https://127.0.0.1:{https_port}",
            headers={"Host": "panel.example.net"},
            verify=False,
        )
        yield client, http_port
        client.close()


def test_the_internal_endpoints_are_not_served_on_the_public_side(proxy, mailbox):
    client, _http = proxy
    from tests.tracking.push import push_headers, raw_message

    push = client.post(
        "/api/ingest/rspamd/",
        content=raw_message(mailbox.address),
        headers={
            **push_headers(sender=mailbox.address, qid="PUBLIC1"),
            "Host": "panel.example.net",
        },
    )

    assert push.status_code == 404 and not IngestEvent.objects.exists()
    assert client.get("/metrics").status_code == 404
    assert client.get("/api/ingest/scan/").status_code == 404
    assert client.post("/api/authpolicy/?command=allow", json={}).status_code == 404


def test_pages_are_served_over_https_with_the_scheme_the_proxy_saw(proxy):
    client, http_port = proxy

    page = client.get("/accounts/login/")
    plain = httpx.get(
        f"http://127.0.0.1:{http_port}/accounts/login/", headers={"Host": "panel.example.net"}
    )

    # Behind the proxy the panel knows the request came over HTTPS: no redirect loop.
    assert page.status_code == 200 and 'name="password"' in page.text
    assert plain.status_code == 301
    assert plain.headers["Location"] == "https://panel.example.net/accounts/login/"


def test_the_panel_sees_the_client_not_the_proxy_nor_a_forged_header(proxy):
    client, _http = proxy
    login = client.get("/accounts/login/")
    token = login.cookies.get("csrftoken")

    client.post(
        "/accounts/login/",
        data={"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": token},
        headers={"X-Forwarded-For": "198.51.100.66", "Referer": "https://panel.example.net/"},
    )

    # The client here is 127.0.0.1, as nginx saw it; the forged address counts for nothing.
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["127.0.0.1"]
