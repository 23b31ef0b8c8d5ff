"""The Lua that Redis runs for the enforcement, from lua/*.lua: read once when the module
loads, then handed to redis-py's register_script, which calls it by its SHA1 and loads it
again when Redis has lost it (a restart)."""

from __future__ import annotations

from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"


def _source(*names: str) -> str:
    return "".join((LUA / f"{name}.lua").read_text() for name in names)


# The counting function alone, then run on its own (the panel, Rspamd by the SHA1 the
# limits hash publishes) or called by the policy service's decision for each request.
ADMIT_FUNCTION = _source("admit_function")
ADMIT = _source("admit_function", "admit")
DECIDE = _source("admit_function", "decide")
CLEAR_IF_SAME = _source("clear_if_same")
HOLD_LIFT = _source("hold_lift")
HOLD_FORGET = _source("hold_forget")
