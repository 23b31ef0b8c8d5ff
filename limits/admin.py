from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from hosting.admin_audit import AuditedAdmin, ReadOnlyAdmin
from hosting.redis import client as redis_client
from limits.forms import SendingLimitsForm
from limits.models import (
    DomainLimit,
    Hold,
    HoldSettings,
    MailboxBaseline,
    MailboxLimit,
    SendingLimits,
)
from limits.selectors import senders_at_limit
from limits.services import hold_lift, sending_limits_published


@admin.register(SendingLimits)
class SendingLimitsAdmin(AuditedAdmin):
    form = SendingLimitsForm
    list_display = ["__str__", *SendingLimits.FIELDS]
    list_select_related = ["hosting"]
    search_fields = ["hosting__name", "hosting__domains__name"]
    autocomplete_fields = ["hosting"]
    change_list_template = "admin/limits/sendinglimits/change_list.html"

    def has_delete_permission(self, request, obj=None) -> bool:
        # The server default stays; a hosting's own row may go (it then inherits).
        return obj is None or obj.hosting_id is not None

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        sending_limits_published(row=obj)

    def delete_model(self, request, obj) -> None:
        hosting = obj.hosting
        super().delete_model(request, obj)
        sending_limits_published(row=SendingLimits(hosting=hosting))

    def get_urls(self):
        view = self.admin_site.admin_view(self.at_limit_view)
        return [path("at-limit/", view, name="limits_at_limit"), *super().get_urls()]

    def at_limit_view(self, request: HttpRequest) -> TemplateResponse:
        """Senders refused for a limit in the last hour, with their use now (from Redis)."""
        rows = senders_at_limit(redis=redis_client())
        context = {
            **self.admin_site.each_context(request),
            "title": "Senders at their sending limit (refused in the last hour)",
            "rows": rows,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/limits/at_limit.html", context)


@admin.register(DomainLimit)
class DomainLimitAdmin(ReadOnlyAdmin):
    list_display = ["domain", "per_hour", "per_day", "updated_at"]
    search_fields = ["domain__name"]


@admin.register(MailboxLimit)
class MailboxLimitAdmin(ReadOnlyAdmin):
    list_display = ["mailbox", "per_hour", "per_day", "per_message", "updated_at"]
    search_fields = ["mailbox__address"]


@admin.register(HoldSettings)
class HoldSettingsAdmin(AuditedAdmin):
    list_display = ["__str__", "enabled", "volume_factor", "volume_floor", "max_networks"]

    def has_add_permission(self, request, obj=None) -> bool:
        return not HoldSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # The volumes that hold are published with the limits (server default row).
        sending_limits_published(row=SendingLimits(hosting=None))


@admin.register(MailboxBaseline)
class MailboxBaselineAdmin(ReadOnlyAdmin):
    list_display = ["mailbox", "hourly", "computed_at"]
    search_fields = ["mailbox__address"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = [
        "mailbox",
        "hosting",
        "reason",
        "started_at",
        "observed",
        "threshold",
        "lifted_at",
    ]
    list_filter = ["reason", ("lifted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["mailbox", "hosting"]
    search_fields = ["mailbox__address", "hosting__name"]
    readonly_fields = [f.name for f in Hold._meta.fields]
    actions = ["lift_selected"]

    def has_change_permission(self, request, obj=None) -> bool:
        # Viewing a hold and lifting it by the action; its fields stay the service's.
        return request.user.has_perm("limits.change_hold")

    def get_fields(self, request, obj=None):
        return self.readonly_fields

    @admin.action(description="Lift selected holds (the password is safe)", permissions=["change"])
    def lift_selected(self, request: HttpRequest, queryset: QuerySet[Hold]) -> None:
        lifted = sum(
            hold_lift(
                hold=hold,
                reason=Hold.LiftReason.STAFF,
                user=request.user,
                client_ip=request.META.get("REMOTE_ADDR"),
            )
            for hold in queryset.standing().select_related("mailbox")
        )
        self.message_user(request, f"{lifted} hold(s) lifted.", messages.SUCCESS)
