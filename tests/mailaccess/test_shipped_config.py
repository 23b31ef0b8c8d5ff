"""deploy/dovecot/dovecot.conf, the docker-compose stack's, as Dovecot's own doveconf
reads it: valid, with the project's authentication and no auth cache."""

from __future__ import annotations

import subprocess

from tests.harness.common import ROOT, require_binary, self_signed_certificate

DEPLOY = ROOT / "deploy" / "dovecot"
FILES = (
    "dovecot.conf",
    "lwsmail-auth.conf",
    "lwsmail-sql.conf.ext",
    "lwsmail-sql-state.conf.ext",
    "lwsmail-policy.conf",
)


def doveconf(directory, *args: str) -> str:
    result = subprocess.run(
        [require_binary("doveconf", "dovecot-core"), "-c", str(directory / "dovecot.conf"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_stacks_dovecot_conf_is_valid_and_authenticates_with_the_panel_only(tmp_path):
    # As mounted in the container, under tmp_path instead of /etc/dovecot.
    cert, key = self_signed_certificate(tmp_path, "mail.example.net")
    (tmp_path / "tls").mkdir()
    cert.rename(tmp_path / "tls" / "fullchain.pem")
    key.rename(tmp_path / "tls" / "privkey.pem")
    (tmp_path / "policy-header").write_text("Authorization: Bearer t")
    for name in FILES:
        text = (DEPLOY / name).read_text().replace("/etc/dovecot/", f"{tmp_path}/")
        text = text.replace("/run/lwsmail/", f"{tmp_path}/")
        (tmp_path / name).write_text(text)
    config = doveconf(tmp_path, "-n")
    assert doveconf(tmp_path, "-h", "auth_cache_size").strip() == "0"
    assert config.count("driver = sql") == 2 and "driver = passwd" not in config
    assert doveconf(tmp_path, "-h", "ssl").strip() == "required"
    assert doveconf(tmp_path, "-h", "disable_plaintext_auth").strip() == "yes"
    assert "PGHOST" in config and "port = 12345" in config
    # The stack's panel answers the auth policy, and a panel that is away stops no login.
    assert doveconf(tmp_path, "-h", "auth_policy_server_url").strip() == (
        "http://authpolicyd:10041/api/authpolicy/"
    )
    assert doveconf(tmp_path, "-h", "auth_policy_reject_on_fail").strip() == "no"
