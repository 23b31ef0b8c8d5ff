"""Permission-checked fetches: another customer's id is a 404, never a 403 that confirms it."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from lwsmail.models import Hosting, Mailbox


def hosting_for(request: HttpRequest, hosting_id: int) -> Hosting:
    return get_object_or_404(Hosting.objects.for_user(request.user), pk=hosting_id)


def mailbox_for(request: HttpRequest, hosting_id: int, mailbox_id: int) -> Mailbox:
    hosting = hosting_for(request, hosting_id)
    return get_object_or_404(
        Mailbox.objects.select_related("domain"), pk=mailbox_id, domain__hosting=hosting
    )


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")
