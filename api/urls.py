from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import complaints, deliveries, mailboxes, queue, views

urlpatterns = [
    path("hostings/", views.HostingList.as_view(), name="api-hostings"),
    path("hostings/<int:pk>/", views.HostingDetail.as_view(), name="api-hosting"),
    path("hostings/<int:pk>/unblock/", views.HostingUnblock.as_view(), name="api-hosting-unblock"),
    path(
        "hostings/<int:pk>/exceptional-unblock/",
        views.HostingGrant.as_view(),
        name="api-hosting-grant",
    ),
    path("blocks/", views.BlockList.as_view(), name="api-blocks"),
    path("blocks/<int:pk>/lift/", views.BlockLift.as_view(), name="api-block-lift"),
    path("messages/", views.MessageList.as_view(), name="api-messages"),
    path("mailboxes/", mailboxes.MailboxList.as_view(), name="api-mailboxes"),
    path("mailboxes/<int:pk>/", mailboxes.MailboxDetail.as_view(), name="api-mailbox"),
    path(
        "mailboxes/<int:pk>/suspend/",
        mailboxes.MailboxSuspend.as_view(),
        name="api-mailbox-suspend",
    ),
    path(
        "mailboxes/<int:pk>/reactivate/",
        mailboxes.MailboxReactivate.as_view(),
        name="api-mailbox-reactivate",
    ),
    path(
        "mailboxes/<int:pk>/password/",
        mailboxes.MailboxPassword.as_view(),
        name="api-mailbox-password",
    ),
    path("deliveries/", deliveries.DeliveryReport.as_view(), name="api-deliveries"),
    path("complaints/", complaints.ComplaintReport.as_view(), name="api-complaints"),
    path("queue/", queue.QueueState.as_view(), name="api-queue"),
    path("queue/held/", queue.QueueHeld.as_view(), name="api-queue-held"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The schema as a page to read (the document above downloads as YAML).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/docs.html"),
        name="api-docs",
    ),
]
