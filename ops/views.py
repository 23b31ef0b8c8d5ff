from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from abuse.enforcement.blockstate import client
from ops.metrics import StateCollector


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n) for n in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format, for the networks and the token the settings allow."""
    if not _allowed(request):
        return HttpResponseForbidden("metrics: not from an allowed network, and no valid token\n")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(client()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
