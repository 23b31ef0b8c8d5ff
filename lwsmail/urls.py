from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from lwsmail import views
from tracking import api

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("api/ingest/rspamd/", api.rspamd_push, name="ingest-rspamd"),
    path("api/ingest/scan/", api.scan_submit, name="ingest-scan"),
]
