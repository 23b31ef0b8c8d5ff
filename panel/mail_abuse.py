"""The Mail Abuse page: the blocks (abuse), the holds and the sending limits (limits) of a
hosting, and Unblock mailboxes."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from abuse.bounces import MIN_RECIPIENTS as BOUNCE_MINIMUM
from abuse.bounces import RATE as BOUNCE_RATE
from abuse.bounces import bounce_rates
from abuse.forms import UnblockForm
from abuse.selectors import (
    hosting_meters,
    hosting_standing_blocks,
    hosting_unblock_history,
    unblock_availability,
)
from abuse.services import UnblockRefused, hosting_unblock
from hosting.access import client_ip, hosting_for
from hosting.redis import client as redis_client
from limits.selectors import hosting_holds, hosting_limit_rows
from panel.selectors import hosting_suspended_mailboxes
from reputation.selectors import hosting_complaints
from tracking.queue import held_for


def _page(request: HttpRequest, hosting, form: UnblockForm, status: int = 200) -> HttpResponse:
    now = timezone.now()
    redis = redis_client()
    standing = hosting_standing_blocks(hosting=hosting, now=now)
    complaints = hosting_complaints(hosting=hosting, blocks=standing.abuse, now=now)
    context = {
        "hosting": hosting,
        "availability": unblock_availability(hosting=hosting, now=now),
        "standing": standing,
        "complaints": complaints,
        "history": hosting_unblock_history(hosting=hosting, now=now),
        "support_url": settings.SUPPORT_URL,
        "meters": hosting_meters(hosting=hosting, now=now),
        "bounces": bounce_rates(now=now, hosting=hosting),
        "bounce_limit": round(BOUNCE_RATE * 100),
        "bounce_minimum": BOUNCE_MINIMUM,
        "sending": [
            r for r in hosting_limit_rows(hosting=hosting, redis=redis) if r.kind != "mailbox"
        ],
        "holds": sorted(
            hosting_holds(hosting=hosting, redis=redis).values(), key=lambda h: h.address
        ),
        "suspended": list(hosting_suspended_mailboxes(hosting=hosting)),
        "queued": list(held_for(domains=list(hosting.domains.values_list("name", flat=True)))),
        "form": form,
    }
    return render(request, "abuse/mail_abuse.html", context, status=status)


@login_required
@require_GET
def mail_abuse(request: HttpRequest, hosting_id: int) -> HttpResponse:
    return _page(request, hosting_for(request, hosting_id), UnblockForm())


@login_required
@require_POST
def unblock(request: HttpRequest, hosting_id: int) -> HttpResponse:
    hosting = hosting_for(request, hosting_id)
    form = UnblockForm(request.POST)
    if not form.is_valid():
        return _page(request, hosting, form, status=400)
    try:
        done = hosting_unblock(hosting=hosting, user=request.user, client_ip=client_ip(request))
    except UnblockRefused:
        # Post/redirect/get: the page says why and from when (or, after another tab's
        # unblock, that nothing is blocked any more); a reload never posts again.
        return redirect("mail-abuse", hosting_id=hosting.pk)
    count = len(done.lifted)
    messages.success(
        request,
        ngettext(
            "%(n)d block lifted. Sending works again for this address.",
            "%(n)d blocks lifted. Sending works again for these addresses.",
            count,
        )
        % {"n": count},
    )
    return redirect("mail-abuse", hosting_id=hosting.pk)
