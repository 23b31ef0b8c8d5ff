"""Permission-checked fetches: another customer's id is a 404, never a 403 that confirms it."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from hosting.models import Domain, Hosting, Mailbox


def staff_viewing(request: HttpRequest) -> bool:
    """Support staff looking at a hosting's pages as its customer sees them: read only."""
    return request.user.is_staff and request.method in ("GET", "HEAD")


def hosting_for(request: HttpRequest, hosting_id: int) -> Hosting:
    """The hosting if it is one of the user's; for staff, any hosting, but only to look
    (a staff POST meets the customer's own rule, and so a 404)."""
    hostings = (
        Hosting.objects.all() if staff_viewing(request) else Hosting.objects.for_user(request.user)
    )
    return get_object_or_404(hostings, pk=hosting_id)


def mailbox_for(request: HttpRequest, hosting_id: int, mailbox_id: int) -> Mailbox:
    hosting = hosting_for(request, hosting_id)
    return get_object_or_404(
        Mailbox.objects.select_related("domain"), pk=mailbox_id, domain__hosting=hosting
    )


def domain_for(request: HttpRequest, hosting_id: int, domain_id: int) -> Domain:
    hosting = hosting_for(request, hosting_id)
    return get_object_or_404(
        Domain.objects.select_related("hosting"), pk=domain_id, hosting=hosting
    )


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")
