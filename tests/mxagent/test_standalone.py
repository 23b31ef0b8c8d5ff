"""The agent runs on the mail host beside Postfix: the standard library and httpx only,
nothing of the panel (no Django, no settings, no database driver)."""

from __future__ import annotations

import subprocess
import sys

from tests.harness.common import ROOT

CHECK = """
import sys
import mxagent.__main__
panel = {"django", "psycopg", "redis", "celery", "hosting", "tracking", "lwsmail", "api"}
loaded = sorted({name.split(".")[0] for name in sys.modules} & panel)
print(",".join(loaded))
"""


def test_the_agent_imports_nothing_of_the_panel():
    env = {"PATH": "/usr/bin:/bin"}  # no DJANGO_SETTINGS_MODULE, no DATABASE_URL
    run = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""


def test_its_command_line_says_what_is_missing():
    run = subprocess.run(
        [sys.executable, "-m", "mxagent", "--panel", "https://panel.example.net", "--stdin"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "MXAGENT_TOKEN" in run.stderr
