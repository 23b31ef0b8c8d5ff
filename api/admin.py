from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import ApiToken
from api.scopes import Scope
from api.services import api_token_create, api_token_key_set, api_token_revoke
from hosting.admin_audit import AuditedAdmin


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiToken
        fields = ["name", "owner", "scopes", "customers", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    form = ApiTokenForm
    list_display = [
        "name",
        "key_prefix",
        "owner",
        "granted",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "key_prefix", "owner__username"]
    filter_horizontal = ["customers"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke", "new_key"]

    @admin.display(description="scopes")
    def granted(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_create(
            name=obj.name,
            owner=obj.owner,
            scopes=obj.scopes,
            created_by=request.user,
            expires_at=obj.expires_at,
        )
        obj.pk = token.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"The token's key, shown this once (only its hash is kept): {key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        done = sum(api_token_revoke(token=t, user=request.user) for t in queryset)
        self.message_user(request, f"{done} token(s) revoked.", messages.SUCCESS)

    @admin.action(description="Give the selected token a new key (the old one stops working)")
    def new_key(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one token.", messages.ERROR)
            return
        key = api_token_key_set(token=queryset.get(), created_by=request.user)
        self.message_user(request, f"The new key, shown this once: {key}", messages.WARNING)
