from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from lwsmail.selectors import hostings_overview


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "lwsmail/home.html", {"hostings": hostings_overview(user=request.user)})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
