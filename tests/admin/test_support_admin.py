from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from abuse.models import Block, PolicySettings, PolicyTier
from hosting.models import AuditEvent
from tests.abuse.helpers import spam_at, standing
from tests.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = UserFactory(username="support", is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture
def blocked(mailbox):
    from django.utils import timezone

    spam_at(mailbox.address, timezone.now() - timedelta(days=2), 40)
    return standing(mailbox.address)


@pytest.mark.parametrize(
    "model",
    [
        "lwsmail/customeraccount",
        "lwsmail/hosting",
        "lwsmail/domain",
        "lwsmail/mailbox",
        "lwsmail/auditevent",
        "abuse/block",
        "abuse/unblock",
        "abuse/policytier",
        "abuse/policysettings",
        "tracking/outboundmessage",
    ],
)
def test_every_model_list_is_searchable_by_address(staff_client, blocked, model):
    response = staff_client.get(f"/admin/{model}/", {"q": blocked.target})

    assert response.status_code == 200


def test_staff_find_a_block_by_address_domain_and_customer(staff_client, blocked):
    url = reverse("admin:abuse_block_changelist")
    hosting = blocked.hosting
    for query in [blocked.target, blocked.domain.name, hosting.customer.name]:
        response = staff_client.get(url, {"q": query})
        assert blocked.target in response.content.decode(), query


def test_staff_filter_blocks_by_code_and_state(staff_client, blocked, mailbox):
    other = MailboxFactory()
    from django.utils import timezone

    spam_at(other.address, timezone.now())
    url = reverse("admin:abuse_block_changelist")

    by_code = staff_client.get(url, {"code": "L-SPAM20"}).content.decode()
    active = staff_client.get(url, {"state": "active", "kind": "timed"}).content.decode()

    assert mailbox.address in by_code and other.address not in by_code
    assert other.address in active and mailbox.address not in active


def test_staff_lift_selected_blocks_after_a_confirmation_with_a_reason(staff_client, blocked):
    url = reverse("admin:abuse_block_changelist")
    action = {"action": "lift_selected", "_selected_action": [blocked.pk]}

    confirmation = staff_client.post(url, action).content.decode()
    assert "Lift 1 block?" in confirmation and blocked.target in confirmation
    blocked.refresh_from_db()
    assert blocked.lifted_at is None  # nothing happens before the confirmation
    without_reason = staff_client.post(url, {**action, "confirm": "yes"}).content.decode()
    assert "Give a reason." in without_reason

    response = staff_client.post(
        url, {**action, "confirm": "yes", "reason": "customer called, PC cleaned"}, follow=True
    )

    assert "1 block(s) lifted." in response.content.decode()
    blocked.refresh_from_db()
    assert (blocked.lift_reason, blocked.lifted_by) == ("staff", staff_client.staff)
    event = AuditEvent.objects.get(action="block.lifted")
    assert (event.actor, event.actor_kind, event.subject) == (
        staff_client.staff,
        "staff",
        blocked.target,
    )
    assert event.data["note"] == "customer called, PC cleaned"


def test_staff_grant_an_exceptional_unblock_and_it_is_audited(staff_client, blocked):
    hosting = blocked.hosting
    staff_client.post(
        reverse("admin:lwsmail_hosting_changelist"),
        {"action": "grant_exceptional_unblock", "_selected_action": [hosting.pk]},
    )

    hosting.refresh_from_db()
    assert hosting.exceptional_unblock_granted_by == staff_client.staff
    assert AuditEvent.objects.filter(
        action="hosting.exceptional_unblock_granted", actor=staff_client.staff
    ).exists()


def test_staff_edit_the_policy_table_and_it_is_audited(staff_client):
    tier = PolicyTier.objects.get(code="L-SPAM11")
    response = staff_client.post(
        reverse("admin:abuse_policytier_change", args=[tier.pk]),
        {
            "code": "L-SPAM11",
            "scope": "domain",
            "rank": 11,
            "threshold": 25,
            "window": "1 00:00:00",
            "block_duration": "1 00:00:00",
            "complaint_period": "",
            "enabled": "on",
        },
    )

    assert response.status_code == 302
    tier.refresh_from_db()
    assert tier.threshold == 25
    event = AuditEvent.objects.get(action="admin.policytier.changed")
    assert event.actor == staff_client.staff
    assert "Threshold" in event.data["change"]


def test_blocks_cannot_be_edited_by_hand(staff_client, blocked):
    url = reverse("admin:abuse_block_change", args=[blocked.pk])

    response = staff_client.post(url, {"code": "L-SPAM00"})

    assert response.status_code == 403
    assert Block.objects.get(pk=blocked.pk).code == "L-SPAM20"


def test_customers_cannot_open_the_admin(client):
    client.force_login(UserFactory())

    response = client.get("/admin/abuse/block/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_see_parked_ingest_events_with_their_error_and_retry_them(staff_client):
    from django.utils import timezone

    from tracking.models import IngestEvent

    event = IngestEvent.objects.create(
        kind="push", meta={}, raw=b"x", parked_at=timezone.now(), last_error="ValueError: bad"
    )
    IngestEvent.objects.create(kind="push", meta={}, raw=b"y")  # pending, not parked
    url = reverse("admin:tracking_ingestevent_changelist")

    page = staff_client.get(url, {"state": "parked"}).content.decode()
    assert "ValueError: bad" in page and page.count('name="_selected_action"') == 1

    response = staff_client.post(
        url, {"action": "retry_parked", "_selected_action": [event.pk]}, follow=True
    )

    assert "1 parked event(s) queued again." in response.content.decode()
    event.refresh_from_db()
    assert event.parked_at is None and event.attempts == 0
    audit = AuditEvent.objects.get(action="ingest.retried")
    assert audit.actor == staff_client.staff and audit.data["event_ids"] == [event.pk]


def _tier_form(tier, **change) -> dict:
    data = {
        "code": tier.code,
        "scope": tier.scope,
        "rank": tier.rank,
        "threshold": tier.threshold,
        "window": "1 00:00:00",
        "block_duration": "1 00:00:00",
        "complaint_period": "",
        "notify_customer": "on",
        "enabled": "on",
    }
    return {**data, **change}


@pytest.mark.parametrize(
    ("code", "threshold", "says"),
    [
        ("L-SPAM11", 0, "A threshold is at least 1 spam message."),
        ("L-SPAM11", 70, "L-SPAM21 is stronger but needs fewer spam (60)"),
        ("L-SPAM10", 45, "L-SPAM20 is stronger but needs fewer spam (40)"),
    ],
)
def test_a_policy_table_that_contradicts_itself_is_refused_with_the_reason(
    staff_client, code, threshold, says
):
    tier = PolicyTier.objects.get(code=code)

    response = staff_client.post(
        reverse("admin:abuse_policytier_change", args=[tier.pk]),
        _tier_form(tier, threshold=threshold),
    )

    assert response.status_code == 200 and says in response.content.decode()
    tier.refresh_from_db()
    assert tier.threshold != threshold


def test_the_policy_list_inline_edit_is_checked_the_same_way(staff_client):
    tiers = list(PolicyTier.objects.order_by("rank"))
    data = {"form-TOTAL_FORMS": len(tiers), "form-INITIAL_FORMS": len(tiers), "_save": "Save"}
    for n, tier in enumerate(tiers):
        data |= {
            f"form-{n}-id": tier.pk,
            f"form-{n}-threshold": 0 if tier.code == "L-SPAM20" else tier.threshold,
            f"form-{n}-window": str(tier.window.days) + " " + "00:00:00"
            if tier.window.days
            else "00:00:00",
            f"form-{n}-block_duration": "" if tier.block_duration is None else "1 00:00:00",
            f"form-{n}-complaint_period": "" if tier.complaint_period is None else "1 00:00:00",
            f"form-{n}-notify_customer": "on",
            f"form-{n}-enabled": "on",
        }

    response = staff_client.post(reverse("admin:abuse_policytier_changelist"), data)

    assert "A threshold is at least 1 spam message." in response.content.decode()
    assert PolicyTier.objects.get(code="L-SPAM20").threshold == 40


def test_a_staff_lift_is_audited_with_the_staff_members_address(staff_client, blocked):
    staff_client.post(
        reverse("admin:abuse_block_changelist"),
        {
            "action": "lift_selected",
            "_selected_action": [blocked.pk],
            "confirm": "yes",
            "reason": "checked with the customer",
        },
        REMOTE_ADDR="198.51.100.7",
    )

    assert AuditEvent.objects.get(action="block.lifted").client_ip == "198.51.100.7"


def test_staff_see_a_hosting_as_its_customer_does_but_read_only(staff_client, blocked):
    from abuse.models import Unblock

    hosting = blocked.hosting
    listing = staff_client.get(reverse("admin:lwsmail_hosting_changelist")).content.decode()
    assert reverse("mail-abuse", args=[hosting.pk]) in listing

    page = staff_client.get(reverse("mail-abuse", args=[hosting.pk])).content.decode()
    assert 'id="staff-view"' in page and blocked.target in page and "L-SPAM20" in page
    for name in ("addresses", "tracking", "history"):
        assert staff_client.get(reverse(name, args=[hosting.pk])).status_code == 200

    refused = staff_client.post(reverse("unblock", args=[hosting.pk]), {"confirm": "on"})
    assert refused.status_code == 404 and not Unblock.objects.exists()


def test_customers_see_no_staff_banner(client, blocked):
    from tests.factories import CustomerAccountFactory

    user = UserFactory(username="owner")
    hosting = blocked.hosting
    hosting.customer = CustomerAccountFactory(users=[user])
    hosting.save()
    client.force_login(user)

    assert (
        'id="staff-view"'
        not in client.get(reverse("mail-abuse", args=[hosting.pk])).content.decode()
    )


def test_the_policy_list_reads_its_durations_out(staff_client):
    page = staff_client.get(reverse("admin:abuse_policytier_changelist")).content.decode()

    for text in ("immediate", "20 min", "1 day", "7 days", "until unblocked", "60 days"):
        assert text in page
    assert "1 00:00:00" not in page


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("notify_quiet_period", "-1 00:00:00", "A duration cannot be negative."),
        ("unblock_interval", "-01:00:00", "A duration cannot be negative."),
        ("spam_score_threshold", "nan", "Enter a number."),
        ("spam_score_threshold", "-3", "A spam score threshold lies between 0 and 1000."),
    ],
)
def test_policy_settings_refuse_what_cannot_work_with_the_reason(staff_client, field, value, says):
    policy = PolicySettings.load()
    data = {
        "spam_score_threshold": "8.0",
        "unblock_interval": "90 00:00:00",
        "notify_quiet_period": "1 00:00:00",
        field: value,
    }

    response = staff_client.post(
        reverse("admin:abuse_policysettings_change", args=[policy.pk]), data
    )

    assert response.status_code == 200 and says in response.content.decode()
    assert PolicySettings.load().notify_quiet_period == timedelta(hours=24)


def test_staff_set_the_suspension_email_quiet_period_and_the_list_reads_it_out(staff_client):
    policy = PolicySettings.load()

    response = staff_client.post(
        reverse("admin:abuse_policysettings_change", args=[policy.pk]),
        {
            "spam_score_threshold": "8.0",
            "unblock_interval": "90 00:00:00",
            "notify_quiet_period": "06:00:00",
        },
    )

    assert response.status_code == 302
    assert PolicySettings.load().notify_quiet_period == timedelta(hours=6)
    page = staff_client.get(reverse("admin:abuse_policysettings_changelist")).content.decode()
    assert "6 h" in page and "90 days" in page
