"""The access log page: every login attempt on the hosting's mailboxes."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from hosting.access import hosting_for
from mailaccess.forms import AttemptFilterForm
from mailaccess.selectors import AttemptFilters, decode_cursor, hosting_attempts


@login_required
@require_GET
def access_log(request: HttpRequest, hosting_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    form = AttemptFilterForm(request.GET or None)
    context = {"hosting": hosting, "form": form, "keep_days": settings.ACCESS_LOG_DAYS}
    if request.GET and not form.is_valid():
        return render(request, "mailaccess/access_log.html", context, status=400)
    after = None
    if request.GET.get("after"):
        after = decode_cursor(request.GET["after"])
        if after is None:
            form.add_error(None, _("This page link is not valid; start again from the first page."))
            return render(request, "mailaccess/access_log.html", context, status=400)
    filters = form.filters() if form.is_bound else AttemptFilters()
    page, next_cursor = hosting_attempts(hosting=hosting, filters=filters, after=after)
    query = request.GET.copy()
    query.pop("after", None)
    context.update(page=page, next_cursor=next_cursor, query=query.urlencode())
    return render(request, "mailaccess/access_log.html", context)
