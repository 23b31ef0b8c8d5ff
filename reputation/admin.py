from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from hosting.admin_audit import AuditedAdmin, ReadOnlyAdmin
from reputation.complaints import Outcome, parked_report_retry
from reputation.models import (
    BlocklistStatus,
    BlocklistZone,
    ComplaintWarning,
    OutboundAddress,
    ParkedReport,
)


@admin.register(ParkedReport)
class ParkedReportAdmin(ReadOnlyAdmin):
    """Feedback reports that matched no message or could not be read, kept whole. Retry
    matches them again (a message stored since is found); delete drops one for good."""

    list_display = ["received_at", "reporter", "via", "reason"]
    list_filter = ["via", "reporter"]
    search_fields = ["reason", "=reporter"]
    readonly_fields = ["received_at", "via", "reporter", "reason", "digest", "report"]
    exclude = ["raw"]
    actions = ["retry", "delete_selected"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    @admin.display(description="report")
    def report(self, obj: ParkedReport):
        return format_html("<pre>{}</pre>", bytes(obj.raw)[:20000].decode("utf-8", "replace"))

    @admin.action(description="Match the selected reports again")
    def retry(self, request, queryset) -> None:
        outcomes = [
            parked_report_retry(parked_id=pk).outcome
            for pk in queryset.values_list("pk", flat=True)
        ]
        matched = sum(1 for o in outcomes if o in (Outcome.COUNTED, Outcome.MATCHED))
        self.message_user(request, f"{matched} matched, {len(outcomes) - matched} still parked.")


@admin.register(ComplaintWarning)
class ComplaintWarningAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "domain", "hosting", "complaints", "delivered", "notified_at"]
    list_select_related = ["domain", "hosting"]
    readonly_fields = [f.name for f in ComplaintWarning._meta.fields]


@admin.register(OutboundAddress)
class OutboundAddressAdmin(AuditedAdmin):
    list_display = ["address", "note", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["address", "note"]


@admin.register(BlocklistZone)
class BlocklistZoneAdmin(AuditedAdmin):
    list_display = ["zone", "enabled"]
    list_filter = ["enabled"]


@admin.register(BlocklistStatus)
class BlocklistStatusAdmin(ReadOnlyAdmin):
    list_display = ["address", "zone", "listed", "codes", "error", "since", "checked_at"]
    list_filter = ["listed", "zone"]
    list_select_related = ["address", "zone"]
    readonly_fields = [f.name for f in BlocklistStatus._meta.fields]
