from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from hosting.admin_audit import AuditedAdmin, ReadOnlyAdmin
from webhooks.forms import EndpointForm
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.services import webhook_delivery_retry


@admin.register(Endpoint)
class EndpointAdmin(AuditedAdmin):
    form = EndpointForm
    list_display = ["name", "url", "is_active", "subscribed", "delivered", "pending", "failed"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Endpoint]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_delivered=Count("deliveries", filter=Q(deliveries__delivered_at__isnull=False)),
                n_failed=Count("deliveries", filter=Q(deliveries__failed_at__isnull=False)),
                n_pending=Count(
                    "deliveries",
                    filter=Q(
                        deliveries__delivered_at__isnull=True, deliveries__failed_at__isnull=True
                    ),
                ),
            )
        )

    @admin.display(description="events")
    def subscribed(self, obj: Endpoint) -> str:
        return ", ".join(obj.events)

    @admin.display(description="delivered", ordering="n_delivered")
    def delivered(self, obj: Endpoint) -> int:
        return obj.n_delivered

    @admin.display(description="pending or retrying", ordering="n_pending")
    def pending(self, obj: Endpoint) -> int:
        return obj.n_pending

    @admin.display(description="given up", ordering="n_failed")
    def failed(self, obj: Endpoint) -> int:
        return obj.n_failed


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["at", "answer", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("pending", "pending or retrying"),
            ("delivered", "delivered"),
            ("failed", "given up"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.pending()
        if self.value() == "delivered":
            return queryset.filter(delivered_at__isnull=False)
        if self.value() == "failed":
            return queryset.filter(failed_at__isnull=False)
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "event",
        "endpoint",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
    ]
    list_filter = [StateFilter, "event", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["uuid", "key"]
    readonly_fields = [
        "uuid",
        "endpoint",
        "event",
        "key",
        "hosting_id",
        "created_at",
        "next_attempt_at",
        "attempts",
        "delivered_at",
        "failed_at",
        "last_status",
        "body",
    ]
    fields = readonly_fields
    inlines = [AttemptInline]
    actions = ["send_again"]

    def has_change_permission(self, request, obj=None) -> bool:
        # The list's action only: a delivery's page is read-only (its body, every answer).
        return obj is None and request.user.has_perm("webhooks.change_delivery")

    @admin.action(description="Send again now", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        sent = sum(webhook_delivery_retry(delivery=d) for d in queryset)
        skipped = queryset.count() - sent
        self.message_user(request, f"{sent} delivery(ies) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} already delivered or being sent: left alone.", messages.WARNING
            )
