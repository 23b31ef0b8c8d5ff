from __future__ import annotations

from django.conf import settings
from django.contrib import admin

from hosting.admin_audit import ReadOnlyAdmin
from tracking.models import OutboundMessage
from tracking.partitions import CONTENTS, MESSAGES, partitions_list


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
    change_list_template = "admin/tracking/outboundmessage/change_list.html"

    def changelist_view(self, request, extra_context=None):
        # The first row by primary key is the oldest kept, read on the primary key's index.
        oldest = OutboundMessage.objects.order_by("pk").values_list("sent_at", flat=True).first()
        extra_context = {
            **(extra_context or {}),
            "history_days": settings.MESSAGE_HISTORY_DAYS,
            "oldest": oldest,
            "partitions": partitions_list(scheme=MESSAGES),
            "hours": len(partitions_list(scheme=CONTENTS)),
        }
        return super().changelist_view(request, extra_context=extra_context)
