from __future__ import annotations

from csp.decorators import csp
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from hosting.access import hosting_for
from tracking.complaints import message_complaints
from tracking.deliveries import message_deliveries
from tracking.forms import MessageFilterForm
from tracking.models import MessageContent, OutboundMessage
from tracking.selectors import (
    MessageFilters,
    decode_cursor,
    hosting_messages,
    message_html,
    message_view,
)


def _message_for(request: HttpRequest, hosting_id: int, message_id: int) -> OutboundMessage:
    hosting = hosting_for(request, hosting_id)
    return get_object_or_404(OutboundMessage, pk=message_id, hosting=hosting)


def _content(message: OutboundMessage) -> MessageContent | None:
    """The content while its 72 hours run, even before the sweep has deleted it after."""
    if not message.content_available(timezone.now()):
        return None
    # The expiry is the content's partition key: one partition is looked at, not all.
    expires_at = message.content_expires_at()
    return MessageContent.objects.filter(message=message, expires_at=expires_at).first()


@login_required
@require_GET
def tracking(request: HttpRequest, hosting_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    form = MessageFilterForm(request.GET or None, hosting=hosting)
    kept = {"history_days": settings.MESSAGE_HISTORY_DAYS}
    if request.GET and not form.is_valid():
        context = {"hosting": hosting, "form": form, **kept}
        return render(request, "tracking/list.html", context, status=400)
    after = None
    if request.GET.get("after"):
        after = decode_cursor(request.GET["after"])
        if after is None:
            form.add_error(None, _("This page link is not valid; start again from the first page."))
            context = {"hosting": hosting, "form": form, **kept}
            return render(request, "tracking/list.html", context, status=400)
    filters = form.filters() if form.is_bound else MessageFilters()
    page, next_cursor = hosting_messages(hosting=hosting, filters=filters, after=after)
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "hosting": hosting,
        "form": form,
        "page": page,
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "now": timezone.now(),
        **kept,
    }
    return render(request, "tracking/list.html", context)


@login_required
@require_GET
def message_detail(request: HttpRequest, hosting_id: int, message_id: int) -> HttpResponse:
    message = _message_for(request, hosting_id, message_id)
    content = _content(message)
    context = {
        "hosting": message.hosting,
        "message": message,
        "content": content,
        "view": message_view(bytes(content.raw)) if content else None,
        "symbols": sorted(
            (content.symbols if content else {}).items(), key=lambda s: -abs(s[1]["score"])
        ),
        "deliveries": message_deliveries(message),
        "complaints": message_complaints(message),
    }
    return render(request, "tracking/detail.html", context)


@login_required
@require_GET
@xframe_options_sameorigin
@csp(
    {
        "default-src": ["'none'"],
        "style-src": ["'none'"],
        "img-src": ["'none'"],
        "frame-ancestors": ["'self'"],
        "sandbox": [""],
    }
)
def message_html_view(request: HttpRequest, hosting_id: int, message_id: int) -> HttpResponse:
    message = _message_for(request, hosting_id, message_id)
    content = _content(message)
    html = message_html(bytes(content.raw)) if content else None
    if html is None:
        raise Http404("no HTML part, or its 72 hours are over")
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Referrer-Policy"] = "no-referrer"
    return response
