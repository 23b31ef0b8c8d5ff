from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ingest import api
from limits import views as limits_views
from mailaccess import views as mailaccess_views
from ops import views as ops_views
from panel import access_log as access_views
from panel import mail_abuse as abuse_views
from panel import views
from panel.forms import LoginForm
from tracking import views as tracking_views

hosting = [
    path("addresses/", views.addresses, name="addresses"),
    path(
        "addresses/<int:mailbox_id>/password/",
        views.mailbox_password,
        name="mailbox-password",
    ),
    path(
        "addresses/<int:mailbox_id>/reactivate/",
        views.mailbox_reactivate_view,
        name="mailbox-reactivate",
    ),
    path("abuse/", abuse_views.mail_abuse, name="mail-abuse"),
    path("abuse/unblock/", abuse_views.unblock, name="unblock"),
    path("tracking/", tracking_views.tracking, name="tracking"),
    path("tracking/<int:message_id>/", tracking_views.message_detail, name="message"),
    path(
        "tracking/<int:message_id>/html/",
        tracking_views.message_html_view,
        name="message-html",
    ),
    path("history/", views.history, name="history"),
    path("access/", access_views.access_log, name="access-log"),
    path("limits/", limits_views.sending_limits, name="sending-limits"),
    path(
        "limits/<str:kind>/<int:target_id>/",
        limits_views.own_limit,
        name="own-limit",
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("h/<int:hosting_id>/", include(hosting)),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/operations/", ops_views.operations, name="operations"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/v1/", include("api.urls")),
    path("api/ingest/rspamd/", api.rspamd_push, name="ingest-rspamd"),
    path("api/authpolicy/", mailaccess_views.auth_policy, name="auth-policy"),
    path("api/ingest/scan/", api.scan_submit, name="ingest-scan"),
]
