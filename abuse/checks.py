"""Refuse to start with a message history too short for the policy table."""

from __future__ import annotations

from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from abuse.retention import retention_problem


@register(Tags.database)  # run by migrate and `check --database default`: it reads the table
def history_long_enough(app_configs, databases=None, **kwargs) -> list[Error]:
    if not databases:
        return []
    try:
        problem = retention_problem()
    except DatabaseError:  # no table yet (before migrate): the migration seeds 120 days
        return []
    if problem is None:
        return []
    return [Error(problem, hint="Raise MESSAGE_HISTORY_DAYS.", id="lwsmail.E001")]
