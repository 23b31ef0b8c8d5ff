from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from hosting.networks import address_in, networks_of
from hosting.redis import client
from ops.metrics import StateCollector
from ops.selectors import AGES, dashboard


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    allowed = networks_of(settings.METRICS_ALLOWED_NETWORKS, "METRICS_ALLOWED_NETWORKS")
    return address_in(str(request.META.get("REMOTE_ADDR", "")), allowed)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format, for the networks and the token the settings allow."""
    if not _allowed(request):
        return HttpResponseForbidden("metrics: not from an allowed network, and no valid token\n")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(client()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


@staff_member_required
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    """Staff's one screen across every hosting: blocks now, trends, offenders, health."""
    data = dashboard(query=request.GET, redis=client(), now=timezone.now())
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "d": data,
        "ages": [(k, label) for k, (label, _) in AGES.items()],
        "scopes": [("address", "address"), ("domain", "domain")],
    }
    return render(request, "ops/dashboard.html", context)
