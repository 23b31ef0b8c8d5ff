from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k8Jq2v9Zr4Lm7Xn1Bc6Td3Wy5Hp0Fs8Ge2Ua7Ri4Oe9Yw1Qt6Mz3Nb5Vc0Xk",
    "DJANGO_ALLOWED_HOSTS": "panel.example.net",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lwsmail"),
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECURE_", "SESSION_", "CSRF_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_env_example_documents_every_variable_the_settings_read():
    import re

    from tests.harness.common import ROOT

    settings_py = (ROOT / "lwsmail" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', settings_py))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))

    assert read - documented == set()


def test_check_deploy_warns_when_the_security_middleware_is_taken_out(tmp_path):
    settings_module = tmp_path / "nosecurity.py"
    settings_module.write_text(
        "from lwsmail.settings import *  # noqa\n"
        "MIDDLEWARE = [m for m in MIDDLEWARE if not m.endswith('SecurityMiddleware')]\n"
    )
    env = {**PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "nosecurity", "PYTHONPATH": str(tmp_path)}

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0 and "lwsmail.W003" in result.stderr
