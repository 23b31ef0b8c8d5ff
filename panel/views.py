from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hosting.access import client_ip, hosting_for, mailbox_for
from hosting.redis import client as redis_client
from hosting.services import InvalidPassword, mailbox_reactivate
from limits.selectors import hosting_holds, hosting_limit_rows
from limits.services import mailbox_password_change
from panel.forms import MailboxPasswordForm
from panel.selectors import hosting_addresses, hosting_history, hostings_overview


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff:
        return redirect("admin:index")
    hostings = list(hostings_overview(user=request.user))
    if len(hostings) == 1:
        return redirect("addresses", hosting_id=hostings[0].pk)
    return render(request, "lwsmail/home.html", {"hostings": hostings})


@login_required
@require_GET
def addresses(request: HttpRequest, hosting_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    redis = redis_client()
    use = {r.name: r for r in hosting_limit_rows(hosting=hosting, redis=redis)}
    holds = hosting_holds(hosting=hosting, redis=redis)
    rows = [
        (row, use.get(row.mailbox.address))
        for row in hosting_addresses(hosting=hosting, holds=holds)
    ]
    return render(request, "lwsmail/addresses.html", {"hosting": hosting, "rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_password(request: HttpRequest, hosting_id: int, mailbox_id: int) -> HttpResponse:
    mailbox = mailbox_for(request, hosting_id, mailbox_id)
    form = MailboxPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox_password_change(
                mailbox=mailbox,
                password=form.cleaned_data["password1"],
                user=request.user,
                client_ip=client_ip(request),
            )
        except InvalidPassword as exc:
            form.add_error("password1", str(exc))
        else:
            messages.success(request, _("The password of %(a)s was changed.") % {"a": mailbox})
            return redirect("addresses", hosting_id=hosting_id)
    status = 400 if request.method == "POST" else 200
    context = {"hosting": mailbox.domain.hosting, "mailbox": mailbox, "form": form}
    return render(request, "lwsmail/password.html", context, status=status)


@login_required
@require_POST
def mailbox_reactivate_view(request: HttpRequest, hosting_id: int, mailbox_id: int) -> HttpResponse:
    """The customer's one click for a mailbox suspended for inactivity (support's own
    suspensions are support's to lift)."""
    mailbox = mailbox_for(request, hosting_id, mailbox_id)
    if not mailbox.suspended_for_inactivity:
        raise Http404
    if mailbox_reactivate(mailbox=mailbox, user=request.user, client_ip=client_ip(request)):
        messages.success(request, _("%(a)s is active again.") % {"a": mailbox})
    return redirect("addresses", hosting_id=hosting_id)


@login_required
@require_GET
def history(request: HttpRequest, hosting_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    events = hosting_history(hosting=hosting, page=request.GET.get("page"))
    return render(request, "lwsmail/history.html", {"hosting": hosting, "events": events})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Where browsers look for the icon of a page that names none (the API, a download)."""
    return redirect(static("img/favicon.ico"), permanent=True)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
