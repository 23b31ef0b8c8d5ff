from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from hosting.access import client_ip
from hosting.admin_audit import AuditedAdmin, ReadOnlyAdmin
from hosting.models import AuditEvent, CustomerAccount, Domain, Hosting, Mailbox, SystemUser
from hosting.services import (
    hosting_grant_exceptional_unblock,
    mailbox_reactivate,
    mailbox_suspend,
)


class HostingInline(admin.TabularInline):
    model = Hosting
    fields = ["name"]
    extra = 0
    show_change_link = True


@admin.register(CustomerAccount)
class CustomerAccountAdmin(AuditedAdmin):
    list_display = ["name", "contact_email", "language", "created_at"]
    list_filter = ["language"]
    search_fields = [
        "name",
        "contact_email",
        "users__username",
        "users__email",
        "hostings__name",
        "hostings__domains__name",
        "hostings__domains__mailboxes__address",
    ]
    filter_horizontal = ["users"]
    inlines = [HostingInline]


class SystemUserInline(admin.TabularInline):
    model = SystemUser
    extra = 0
    verbose_name_plural = "system users (mail their scripts send with sendmail counts here)"


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    show_change_link = True


@admin.register(Hosting)
class HostingAdmin(AuditedAdmin):
    list_display = [
        "name",
        "customer",
        "exceptional_unblock_granted_at",
        "created_at",
        "customer_view",
    ]
    list_select_related = ["customer"]
    search_fields = [
        "name",
        "customer__name",
        "customer__contact_email",
        "domains__name",
        "domains__mailboxes__address",
    ]
    readonly_fields = ["exceptional_unblock_granted_at", "exceptional_unblock_granted_by"]
    autocomplete_fields = ["customer"]
    inlines = [DomainInline, SystemUserInline]
    actions = ["grant_exceptional_unblock"]

    @admin.display(description="what the customer sees")
    def customer_view(self, obj: Hosting) -> str:
        return format_html(
            '<a href="{}">addresses</a> · <a href="{}">Mail Abuse</a> · <a href="{}">history</a>',
            reverse("addresses", args=[obj.pk]),
            reverse("mail-abuse", args=[obj.pk]),
            reverse("tracking", args=[obj.pk]),
        )

    @admin.action(description="Grant one exceptional unblock (despite the 90-day rule)")
    def grant_exceptional_unblock(self, request: HttpRequest, queryset: QuerySet[Hosting]) -> None:
        granted = [
            h
            for h in queryset
            if hosting_grant_exceptional_unblock(
                hosting=h, user=request.user, client_ip=client_ip(request)
            )
        ]
        if granted:
            self.message_user(request, f"Exceptional unblock granted to {len(granted)} hosting(s).")
        if len(granted) < queryset.count():
            self.message_user(
                request,
                "Some hostings already had an unused exceptional unblock.",
                level=messages.WARNING,
            )


class MailboxInline(admin.TabularInline):
    model = Mailbox
    fields = ["address", "password_changed_at"]
    readonly_fields = ["password_changed_at"]
    extra = 0
    show_change_link = True


@admin.register(Domain)
class DomainAdmin(AuditedAdmin):
    list_display = ["name", "hosting"]
    list_select_related = ["hosting"]
    search_fields = ["name", "hosting__name", "hosting__customer__name", "mailboxes__address"]
    autocomplete_fields = ["hosting"]
    inlines = [MailboxInline]


@admin.register(Mailbox)
class MailboxAdmin(AuditedAdmin):
    list_display = [
        "address",
        "domain",
        "login_state",
        "last_login_at",
        "password_changed_at",
        "created_at",
    ]
    list_filter = [("suspended_at", admin.EmptyFieldListFilter)]
    list_select_related = ["domain"]
    search_fields = [
        "address",
        "domain__name",
        "domain__hosting__name",
        "domain__hosting__customer__name",
    ]
    # The hash is written only by the password service; staff never see or type it. A
    # suspension is the actions' (audited, with the reason the customer reads).
    exclude = ["password_hash"]
    readonly_fields = [
        "password_changed_at",
        "suspended_at",
        "suspended_reason",
        "suspended_by",
        "suspended_for_inactivity",
        "last_login_at",
        "inactivity_warned_at",
        "access_log",
    ]
    autocomplete_fields = ["domain"]
    actions = ["suspend_selected", "reactivate_selected"]

    @admin.display(description="access log")
    def access_log(self, obj: Mailbox) -> str:
        # By URL: the core does not import the access log's app.
        url = reverse("admin:mailaccess_accessattempt_changelist") + f"?mailbox__id__exact={obj.pk}"
        return format_html('<a href="{}">every login attempt of {}</a>', url, obj.address)

    @admin.display(description="logins")
    def login_state(self, obj: Mailbox) -> str:
        if obj.is_suspended():
            return format_html("<strong>L-SUSPENDED</strong>: {}", obj.suspended_reason)
        return "open"

    @admin.action(description="Suspend selected mailboxes (every login refused)")
    def suspend_selected(
        self, request: HttpRequest, queryset: QuerySet[Mailbox]
    ) -> TemplateResponse | None:
        mailboxes = list(
            queryset.filter(suspended_at__isnull=True).select_related("domain__hosting")
        )
        reason = " ".join(request.POST.get("reason", "").split())
        if "confirm" not in request.POST or not reason:
            # A confirmation page first, with the reason the customer will read.
            context = {
                **self.admin_site.each_context(request),
                "mailboxes": mailboxes,
                "reason": reason,
                "error": "Give the reason the customer will read."
                if "confirm" in request.POST
                else "",
                "opts": self.model._meta,
            }
            return TemplateResponse(
                request, "admin/hosting/mailbox/suspend_confirmation.html", context
            )
        ip = client_ip(request)
        suspended = sum(
            mailbox_suspend(mailbox=m, reason=reason, user=request.user, client_ip=ip)
            for m in mailboxes
        )
        self.message_user(request, f"{suspended} mailbox(es) suspended.")
        return None

    @admin.action(description="Reactivate selected mailboxes")
    def reactivate_selected(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        ip = client_ip(request)
        reactivated = sum(
            mailbox_reactivate(mailbox=m, user=request.user, client_ip=ip)
            for m in queryset.select_related("domain")
        )
        self.message_user(request, f"{reactivated} mailbox(es) reactivated.")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "subject",
        "actor",
        "actor_kind",
        "hosting",
        "client_ip",
    ]
    list_filter = ["actor_kind", "action"]
    list_select_related = ["actor", "hosting"]
    search_fields = ["subject", "hosting__name", "hosting__customer__name", "actor__username"]
    show_full_result_count = False
