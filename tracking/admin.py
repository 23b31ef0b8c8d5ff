from __future__ import annotations

from django.contrib import admin

from lwsmail.admin_audit import ReadOnlyAdmin
from tracking.models import IngestEvent, OutboundMessage


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "sent_at",
        "sender",
        "source",
        "subject",
        "score",
        "status",
        "is_spam",
        "code",
        "hosting",
    ]
    list_filter = ["status", "source", "is_spam", "code"]
    list_select_related = ["hosting"]
    search_fields = [
        "=sender",
        "=domain__name",
        "=hosting__name",
        "hosting__customer__name",
        "=queue_id",
        "=message_id",
    ]
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
    # At millions of rows an exact COUNT(*) per page is the slowest part of the list.
    show_full_result_count = False
    list_per_page = 50


@admin.register(IngestEvent)
class IngestEventAdmin(ReadOnlyAdmin):
    """Messages received but not yet recorded: normally empty within seconds; rows with
    attempts and an error are what support looks at when ingestion is stuck."""

    list_display = ["id", "kind", "received_at", "enqueued_at", "attempts", "last_error"]
    list_filter = ["kind"]
    search_fields = ["=id", "last_error"]
    exclude = ["raw"]
    readonly_fields = ["kind", "received_at", "enqueued_at", "attempts", "last_error", "meta"]
