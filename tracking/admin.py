from __future__ import annotations

from django.conf import settings
from django.contrib import admin

from hosting.access import client_ip
from hosting.admin_audit import ReadOnlyAdmin
from tracking.models import Complaint, OutboundMessage, QueuedMessage
from tracking.partitions import CONTENTS, MESSAGES, partitions_list
from tracking.queue import queue_delete_request


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


@admin.register(QueuedMessage)
class QueuedMessageAdmin(ReadOnlyAdmin):
    """What the mail hosts hold in their queues for blocked senders; staff may have them
    deleted (the agent deletes them on its next pass)."""

    list_display = ["sender", "subject", "host", "queue_id", "arrived_at", "delete_requested_at"]
    list_filter = ["host"]
    search_fields = ["=sender", "=queue_id"]
    readonly_fields = [f.name for f in QueuedMessage._meta.fields]
    actions = ["delete_from_queue"]

    @admin.action(description="Delete the selected messages from the mail server's queue")
    def delete_from_queue(self, request, queryset) -> None:
        asked = queue_delete_request(
            messages=queryset, user=request.user, client_ip=client_ip(request)
        )
        self.message_user(request, f"{asked} message(s) will be deleted from the queue.")


@admin.register(Complaint)
class ComplaintAdmin(ReadOnlyAdmin):
    """Feedback-loop complaints matched to their messages (reputation/complaints.py)."""

    list_display = ["received_at", "reporter", "domain", "matched_by", "counted", "message_id"]
    list_filter = ["matched_by", "counted", "reporter"]
    list_select_related = ["domain"]
    search_fields = ["=domain__name", "=reporter"]
    readonly_fields = [f.name for f in Complaint._meta.fields]
