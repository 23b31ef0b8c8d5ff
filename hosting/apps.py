from __future__ import annotations

from django.apps import AppConfig


class HostingConfig(AppConfig):
    """The ground floor: the mail-hosting core (customer accounts, hostings, domains,
    mailboxes, system users, the audit trail), access helpers, passwords, the Redis
    connection and the shared counters. It imports no other app of the project.

    Its label stays "lwsmail", the name it had inside the project package: its tables
    (lwsmail_hosting…), migrations, permissions and admin URLs keep theirs, so a database
    migrated on an older main migrates forward with nothing to rename."""

    name = "hosting"
    label = "lwsmail"
    verbose_name = "Mail hosting"

    def ready(self) -> None:
        from hosting import checks  # noqa: F401 (registers the system check)
