"""Read-only questions about a customer's hostings."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from abuse.models import Block
from lwsmail.models import Hosting


def hostings_overview(*, user) -> QuerySet[Hosting]:
    """The user's hostings with their domain names, mailbox counts and active blocks."""
    return (
        Hosting.objects.for_user(user)
        .annotate(mailbox_count=Count("domains__mailboxes", distinct=True))
        .prefetch_related(
            "domains",
            Prefetch(
                "blocks",
                queryset=Block.objects.active().order_by("target"),
                to_attr="active_blocks",
            ),
        )
        .order_by("name")
    )
