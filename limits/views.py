from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from hosting.access import client_ip, domain_for, hosting_for, mailbox_for
from hosting.redis import client as redis_client
from limits.forms import OwnLimitForm
from limits.selectors import hosting_limit_rows
from limits.services import LimitRefused, own_limit_set


@login_required
@require_GET
def sending_limits(request: HttpRequest, hosting_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    rows = hosting_limit_rows(hosting=hosting, redis=redis_client())
    return render(request, "limits/sending_limits.html", {"hosting": hosting, "rows": rows})


@login_required
@require_POST
def own_limit(request: HttpRequest, hosting_id: int, kind: str, target_id: int) -> HttpResponse:
    if kind == "mailbox":
        target = mailbox_for(request, hosting_id, target_id)
    elif kind == "domain":
        target = domain_for(request, hosting_id, target_id)
    else:
        raise Http404
    form = OwnLimitForm(request.POST, per_message=kind == "mailbox")
    if form.is_valid():
        try:
            own_limit_set(
                target=target,
                values=form.cleaned_data,
                user=request.user,
                client_ip=client_ip(request),
            )
        except LimitRefused as exc:
            form.add_error(exc.field, str(exc))
        else:
            messages.success(request, _("The sending limits of %(t)s were saved.") % {"t": target})
            return redirect("sending-limits", hosting_id=hosting_id)
    hosting = hosting_for(request, hosting_id)
    rows = hosting_limit_rows(hosting=hosting, redis=redis_client())
    context = {"hosting": hosting, "rows": rows, "form": form}
    return render(request, "limits/sending_limits.html", context, status=400)
