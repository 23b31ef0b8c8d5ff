from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from abuse.forms import PolicySettingsForm, PolicyTierForm
from abuse.models import Block, PolicySettings, PolicyTier, Unblock
from abuse.services import block_lift
from hosting.access import client_ip
from hosting.admin_audit import AuditedAdmin, ReadOnlyAdmin


def readable(duration: timedelta) -> str:
    """'20 min', '24 h', '7 days', '1 h 30 min': what staff read in the policy table."""
    minutes = int(duration.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days and not hours and not minutes:
        return f"{days} day{'s' if days > 1 else ''}"
    hours += days * 24
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p) or "0 min"


@admin.register(PolicySettings)
class PolicySettingsAdmin(AuditedAdmin):
    form = PolicySettingsForm
    list_display = ["__str__", "spam_score_threshold", "unblock_text", "quiet_text"]

    @admin.display(description="unblock interval")
    def unblock_text(self, policy: PolicySettings) -> str:
        return readable(policy.unblock_interval)

    @admin.display(description="suspension e-mail quiet period")
    def quiet_text(self, policy: PolicySettings) -> str:
        return readable(policy.notify_quiet_period)

    def has_add_permission(self, request, obj=None) -> bool:
        return not PolicySettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PolicyTier)
class PolicyTierAdmin(AuditedAdmin):
    form = PolicyTierForm

    def get_changelist_form(self, request, **kwargs):
        # The inline edit of the list validates like the change form.
        return super().get_changelist_form(request, form=PolicyTierForm, **kwargs)

    list_display = [
        "code",
        "scope",
        "rank",
        "threshold",
        "window_text",
        "block_text",
        "complaint_text",
        "notify_customer",
        "enabled",
    ]
    # Durations are edited in the change form ("days hh:mm:ss"); the list reads them out.
    list_editable = ["threshold", "notify_customer", "enabled"]

    @admin.display(description="window", ordering="window")
    def window_text(self, tier: PolicyTier) -> str:
        return "immediate" if tier.is_immediate else readable(tier.window)

    @admin.display(description="block", ordering="block_duration")
    def block_text(self, tier: PolicyTier) -> str:
        return "until unblocked" if tier.block_duration is None else readable(tier.block_duration)

    @admin.display(description="complaint period", ordering="complaint_period")
    def complaint_text(self, tier: PolicyTier) -> str:
        return "—" if tier.complaint_period is None else readable(tier.complaint_period)

    list_filter = ["scope", "enabled"]
    search_fields = ["code"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # blocks refer to tiers; disable a tier instead


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("active", "Active"),
            ("expired", "Ended, not yet swept"),
            ("lifted", "Lifted"),
        ]

    def queryset(self, request, queryset: QuerySet[Block]) -> QuerySet[Block]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.active(now)
        if self.value() == "expired":
            return queryset.expired(now)
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("abuse", "Mail abuse (until unblocked)"), ("timed", "Timed")]

    def queryset(self, request, queryset: QuerySet[Block]) -> QuerySet[Block]:
        if self.value() == "abuse":
            return queryset.filter(ends_at__isnull=True)
        if self.value() == "timed":
            return queryset.filter(~Q(ends_at=None))
        return queryset


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = [
        "target",
        "code",
        "scope",
        "hosting",
        "started_at",
        "ends_at",
        "complaint_ends_at",
        "is_active_now",
        "lifted_at",
        "lift_reason",
        "lifted_by",
    ]
    list_filter = [StateFilter, "code", KindFilter, "scope", "lift_reason"]
    list_select_related = ["hosting", "lifted_by"]
    search_fields = [
        "target",
        "domain__name",
        "mailbox__address",
        "hosting__name",
        "hosting__customer__name",
    ]
    readonly_fields = [f.name for f in Block._meta.fields]
    actions = ["lift_selected"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and request.user.has_perm("abuse.change_block")

    @admin.display(boolean=True, description="active")
    def is_active_now(self, obj: Block) -> bool:
        return obj.is_active()

    @admin.action(description="Lift selected blocks", permissions=["change"])
    def lift_selected(
        self, request: HttpRequest, queryset: QuerySet[Block]
    ) -> TemplateResponse | None:
        blocks = list(queryset.unlifted().select_related("hosting"))
        reason = request.POST.get("reason", "").strip()
        if "confirm" not in request.POST or not reason:
            # A confirmation page first, with the reason the audit trail keeps.
            context = {
                **self.admin_site.each_context(request),
                "blocks": blocks,
                "reason": reason,
                "error": "Give a reason." if "confirm" in request.POST else "",
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/abuse/block/lift_confirmation.html", context)
        ip = client_ip(request)
        lifted = sum(
            block_lift(block=b, user=request.user, note=reason[:500], client_ip=ip) for b in blocks
        )
        self.message_user(request, f"{lifted} block(s) lifted.")
        return None


@admin.register(Unblock)
class UnblockAdmin(ReadOnlyAdmin):
    list_display = ["hosting", "created_at", "user", "client_ip", "used_exceptional_grant"]
    list_select_related = ["hosting", "user"]
    search_fields = ["hosting__name", "hosting__customer__name", "user__username"]
    readonly_fields = [f.name for f in Unblock._meta.fields]
