from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from abuse.enforcement.blockstate import client as redis_client
from limits.forms import OwnLimitForm
from limits.selectors import domain_inherited, hosting_limit_rows, mailbox_limits
from limits.services import LimitTooHigh, domain_limit_set, mailbox_limit_set
from lwsmail.access import client_ip, hosting_for
from lwsmail.models import Domain, Mailbox


@login_required
@require_GET
def sending_limits(request: HttpRequest, hosting_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    rows = hosting_limit_rows(hosting=hosting, redis=redis_client())
    return render(request, "limits/sending_limits.html", {"hosting": hosting, "rows": rows})


@login_required
@require_POST
def own_limit(request: HttpRequest, hosting_id: int, kind: str, target_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    if kind == "domain":
        target = get_object_or_404(Domain, pk=target_id, hosting=hosting)
        inherited = domain_inherited(target)
        ceilings = {"per_hour": inherited.per_hour, "per_day": inherited.per_day}
    elif kind == "mailbox":
        target = get_object_or_404(
            Mailbox.objects.select_related("domain__hosting"), pk=target_id, domain__hosting=hosting
        )
        limits = mailbox_limits(target)
        ceilings = {
            "per_hour": limits.inherited_mailbox.per_hour,
            "per_day": limits.inherited_mailbox.per_day,
            "per_message": limits.inherited_per_message,
        }
    else:
        raise Http404
    form = OwnLimitForm(request.POST, inherited=ceilings)
    if form.is_valid():
        try:
            if kind == "domain":
                domain_limit_set(
                    domain=target,
                    user=request.user,
                    client_ip=client_ip(request),
                    **form.cleaned_data,
                )
            else:
                mailbox_limit_set(
                    mailbox=target,
                    user=request.user,
                    client_ip=client_ip(request),
                    **form.cleaned_data,
                )
        except LimitTooHigh as exc:  # inherited limit lowered by staff meanwhile
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The sending limits of %(t)s were saved.") % {"t": target})
            return redirect("sending-limits", hosting_id=hosting.pk)
    rows = hosting_limit_rows(hosting=hosting, redis=redis_client())
    context = {"hosting": hosting, "rows": rows, "failed": (kind, target.pk), "form": form}
    return render(request, "limits/sending_limits.html", context, status=400)
