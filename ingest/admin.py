from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from hosting.access import client_ip
from hosting.admin_audit import ReadOnlyAdmin
from hosting.services import audit_record
from ingest.events import ingest_events_retry
from tracking.models import IngestEvent


class ParkedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Pending"), ("parked", "Parked for staff")]

    def queryset(self, request, queryset: QuerySet[IngestEvent]) -> QuerySet[IngestEvent]:
        if self.value() == "pending":
            return queryset.pending()
        if self.value() == "parked":
            return queryset.parked()
        return queryset


FIELDS = ["kind", "received_at", "enqueued_at", "attempts", "parked_at", "last_error"]


@admin.register(IngestEvent)
class IngestEventAdmin(ReadOnlyAdmin):
    """Messages received but not yet recorded: normally empty within seconds; rows with
    attempts and an error are what support looks at when ingestion is stuck."""

    list_display = ["id", *FIELDS]
    list_filter = ["kind", ParkedFilter]
    search_fields = ["=id", "last_error"]
    exclude = ["raw"]
    readonly_fields = [*FIELDS, "meta"]
    actions = ["retry_parked"]

    @admin.action(description="Retry the selected parked events")
    def retry_parked(self, request: HttpRequest, queryset: QuerySet[IngestEvent]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = ingest_events_retry(event_ids=ids)
        audit_record(
            action="ingest.retried",
            actor=request.user,
            subject=f"{count} event(s)",
            data={"event_ids": ids[:1000]},
            client_ip=client_ip(request),
        )
        self.message_user(request, f"{count} parked event(s) queued again.")
