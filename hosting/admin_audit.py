"""Every change staff make in the admin also lands in the lwsmail audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from hosting.models import Hosting
from hosting.services import audit_record


def _hosting_of(obj: Any) -> Hosting | int | None:
    if isinstance(obj, Hosting):
        return obj
    if getattr(obj, "hosting_id", None):
        return obj.hosting_id
    domain = getattr(obj, "domain", None)
    return getattr(domain, "hosting_id", None)


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose additions, changes and deletions are audited with the staff user."""

    def _audit(self, request: HttpRequest, obj: Any, verb: str, message: Any = "") -> None:
        audit_record(
            action=f"admin.{obj._meta.model_name}.{verb}",
            actor=request.user,
            hosting=_hosting_of(obj),
            subject=str(obj),
            data={"object_id": obj.pk, "change": str(message)[:2000]},
            client_ip=request.META.get("REMOTE_ADDR"),
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted")
        return super().log_deletions(request, queryset)


class ReadOnlyAdmin(AuditedAdmin):
    """Records written only by services: staff read them, never edit them by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
