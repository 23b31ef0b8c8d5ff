from __future__ import annotations

from django import forms
from django.contrib import admin

from hosting.admin_audit import AuditedAdmin, ReadOnlyAdmin
from hosting.networks import networks_of
from hosting.redis import client as redis_client
from mailaccess.models import AccessAttempt, LoginDefence
from mailaccess.services import login_defence_publish


@admin.register(AccessAttempt)
class AccessAttemptAdmin(ReadOnlyAdmin):
    """Every login Dovecot reported; a mailbox's own from its page (?mailbox__id__exact=)."""

    list_display = ["at", "login", "protocol", "client_ip", "result", "reason", "hosting"]
    list_filter = ["result", "protocol"]
    list_select_related = ["hosting"]
    search_fields = ["=login", "=client_ip"]
    date_hierarchy = "at"
    show_full_result_count = False


class LoginDefenceForm(forms.ModelForm):
    class Meta:
        model = LoginDefence
        fields = [
            "delay_after",
            "delay_window_minutes",
            "delay_seconds",
            "refuse_after",
            "refuse_window_minutes",
            "refuse_minutes",
            "alert_after",
            "exempt_networks",
        ]

    def clean_exempt_networks(self) -> list[str]:
        value = self.cleaned_data["exempt_networks"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise forms.ValidationError('A list of networks: ["192.0.2.0/24", "2001:db8::/32"].')
        try:
            networks_of(value, "exempt networks")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value


@admin.register(LoginDefence)
class LoginDefenceAdmin(AuditedAdmin):
    form = LoginDefenceForm

    def has_add_permission(self, request) -> bool:
        return not LoginDefence.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # The auth policy reads the numbers from Redis: staff's change applies at once.
        login_defence_publish(redis=redis_client())
