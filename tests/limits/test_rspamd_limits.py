"""A website script's mail never meets the policy service: Rspamd counts it on its
domain's and hosting's counters with the panel's own script, and soft-rejects it over a
limit with the L-RATE text (deploy/rspamd/rspamd.local.lua)."""

from __future__ import annotations

import pytest

from enforcement.counters import key, usage
from ingest.events import ingest_event_process
from limits.models import DomainLimit, SendingLimits
from limits.state import limits_rebuild
from tests.factories import DomainFactory, SystemUserFactory
from tests.tracking.mail import mta_scan
from tracking.models import IngestEvent, OutboundMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def script_mail(sender: str, uid: int, n: int) -> bytes:
    return (
        f"X-PHP-Originating-Script: {uid}:shop/order.php\r\n"
        f"From: {sender}\r\nTo: friend@example.org\r\nSubject: Your order {n}\r\n"
        f"Message-ID: <order{n}@shop.test>\r\n\r\nThank you for your order.\r\n"
    ).encode()


@pytest.fixture
def shop(clean_redis):
    domain = DomainFactory(name="shop.example")
    uid = SystemUserFactory(hosting=domain.hosting, uid=41001).uid
    DomainLimit.objects.create(domain=domain, per_hour=2)
    limits_rebuild()
    return domain, uid


def test_a_website_script_over_its_domains_hourly_limit_is_soft_rejected(
    ingest_settings, rspamd, shop, clean_redis
):
    domain, uid = shop
    sender = f"orders@{domain.name}"
    verdicts = [
        mta_scan(rspamd.url, script_mail(sender, uid, n), sender=sender, queue_id=f"W{n}")
        for n in range(3)
    ]

    assert [v["action"] != "soft reject" for v in verdicts] == [True, True, False]
    text = verdicts[2]["messages"]["smtp_message"]
    assert text.startswith(
        f"L-RATE <{sender}>: hourly limit of 2 recipients of the domain shop.example reached, "
        "sending resumes at "
    )
    assert "LWS_RATE" in verdicts[2]["symbols"]
    use = usage(clean_redis, [key("domain", "shop.example"), key("hosting", domain.hosting_id)])
    assert [u.last_hour for u in use.values()] == [2, 2]


def test_the_refused_message_is_recorded_as_refused_never_as_spam(ingest_settings, rspamd, shop):
    domain, uid = shop
    sender = f"orders@{domain.name}"
    for n in range(3):
        mta_scan(rspamd.url, script_mail(sender, uid, n), sender=sender, queue_id=f"R{n}")

    for pk in IngestEvent.objects.values_list("pk", flat=True):
        ingest_event_process(event_id=pk)

    refused = OutboundMessage.objects.get(queue_id="R2")
    assert (refused.status, refused.code, refused.is_spam) == ("blocked", "L-RATE", False)


def test_the_hosting_limit_counts_every_domain_and_the_per_message_limit_applies(
    ingest_settings, rspamd, clean_redis
):
    domain = DomainFactory(name="one.example")
    DomainFactory(name="two.example", hosting=domain.hosting)
    uid = SystemUserFactory(hosting=domain.hosting, uid=41002).uid
    SendingLimits.objects.create(hosting=domain.hosting, hosting_per_hour=1, per_message=1)
    limits_rebuild()

    first = mta_scan(
        rspamd.url, script_mail("a@one.example", uid, 1), sender="a@one.example", queue_id="H1"
    )
    second = mta_scan(
        rspamd.url, script_mail("b@two.example", uid, 2), sender="b@two.example", queue_id="H2"
    )

    assert first["action"] != "soft reject"
    assert second["action"] == "soft reject"
    assert (
        "hourly limit of 1 recipients of this hosting reached" in second["messages"]["smtp_message"]
    )
