"""Staff suspend and reactivate mailboxes in the admin: a reason first, audited
(tests/panel/test_suspended_addresses.py: what the customer reads)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from hosting.models import AuditEvent, Mailbox
from tests.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:lwsmail_mailbox_changelist")


@pytest.fixture
def staff_client():
    # A browser of its own: the customer's pages are read with the `client` fixture.
    client = Client()
    staff = UserFactory(username="support", is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


def suspend(staff_client, box: Mailbox, reason: str | None):
    body = {"action": "suspend_selected", "_selected_action": [box.pk]}
    if reason is not None:
        body.update(confirm="yes", reason=reason)
    return staff_client.post(CHANGELIST, body)


def test_suspending_asks_for_the_reason_the_customer_will_read(staff_client):
    box = MailboxFactory()
    page = suspend(staff_client, box, None)
    assert page.status_code == 200 and b"the customer reads it" in page.content
    assert b"L-SUSPENDED" in page.content
    again = suspend(staff_client, box, "   ")
    assert b"Give the reason the customer will read." in again.content
    box.refresh_from_db()
    assert not box.is_suspended()


def test_a_suspension_and_a_reactivation_are_audited_as_the_staff_member(staff_client):
    box = MailboxFactory()
    assert suspend(staff_client, box, "Unpaid invoice 2026-114").status_code == 302
    box.refresh_from_db()
    assert box.suspended_reason == "Unpaid invoice 2026-114"
    assert box.suspended_by == staff_client.staff
    staff_client.post(CHANGELIST, {"action": "reactivate_selected", "_selected_action": [box.pk]})
    box.refresh_from_db()
    assert not box.is_suspended()
    events = AuditEvent.objects.filter(subject=box.address).order_by("id")
    assert [(e.action, e.actor, e.actor_kind) for e in events] == [
        ("mailbox.suspended", staff_client.staff, "staff"),
        ("mailbox.reactivated", staff_client.staff, "staff"),
    ]
    assert events[0].data == {"reason": "Unpaid invoice 2026-114"}


def test_the_admin_list_says_which_mailboxes_are_suspended(staff_client):
    box = MailboxFactory()
    suspend(staff_client, box, "Abuse report 77")
    page = staff_client.get(CHANGELIST)
    assert b"L-SUSPENDED</strong>: Abuse report 77" in page.content
