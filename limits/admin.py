from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from abuse.enforcement.blockstate import client as redis_client
from limits.forms import SendingLimitsForm
from limits.models import DomainLimit, MailboxLimit, SendingLimits
from limits.selectors import senders_at_limit
from limits.services import sending_limits_published
from lwsmail.admin_audit import AuditedAdmin, ReadOnlyAdmin


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
