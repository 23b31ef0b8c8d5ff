"""Complaints through the real platform: a customer's message goes out through Postfix,
where the real Rspamd signs its X-LWS-Ref (removing the one the sender forged) and pushes
it to the panel; the recipient's provider reports it, and the report reaches the FBL
address of the real Postfix, whose pipe runs manage.py fbl_receive."""

from __future__ import annotations

import pytest
from django.urls import reverse

from abuse.models import Block
from reputation.models import ParkedReport
from reputation.references import reference_verify
from tests.harness.rspamd import REFERENCE_KEY
from tests.reputation.arf import microsoft, yahoo
from tests.workers import wait_until
from tracking.models import Complaint, OutboundMessage

# Not serialized_rollback: it runs after transactional tests that flush (the content
# types come back with new ids), and the policy tiers are seeded again when empty.
pytestmark = pytest.mark.django_db(transaction=True)

FORGED = "1.4ZkT3v0Zq5z9vG2.1796637600.0123456789abcdef0123456789abcdef"


def _complaints(platform, n: int) -> list[Complaint]:
    arrived = wait_until(lambda: Complaint.objects.count() >= n, timeout=30)
    assert arrived, platform.postfix.log()[-3000:]
    return list(Complaint.objects.order_by("id"))


def test_a_yahoo_report_piped_by_postfix_finds_its_message_by_the_signed_reference(
    platform, customer, client
):
    address = customer.box.address
    platform.send(address, subject="Offerta speciale: -50 %", X_LWS_Ref=FORGED)
    delivered = platform.wait_delivered("Offerta speciale: -50 %")
    platform.wait_recorded(address, 1)
    message = OutboundMessage.objects.get(sender=address)

    # Rspamd removed the sender's forgery and signed the message as the panel knows it.
    references = delivered.get_all("X-LWS-Ref")
    assert len(references) == 1 and references[0] != FORGED
    reference = reference_verify(str(references[0]), key=REFERENCE_KEY)
    assert reference is not None and reference.queue_id == message.queue_id
    assert abs((reference.at - message.sent_at).total_seconds()) < 60
    assert not message.is_spam

    report = yahoo(delivered.as_bytes())
    platform.postfix.fbl.send(report)
    (complaint,) = _complaints(platform, 1)
    assert (complaint.message_id, complaint.matched_by, complaint.counted) == (
        message.pk,
        "reference",
        True,
    )
    assert complaint.reporter == "yahoo.test"
    message.refresh_from_db()
    assert message.is_spam
    # Sent minutes ago, it now starts the immediate tier, as a spam score would.
    assert Block.objects.unlifted().get(target=address).code == "L-SPAM00"

    # The same report again, then Microsoft's about the same message: stored once each,
    # the message counted once.
    platform.postfix.fbl.send(report)
    platform.postfix.fbl.send(microsoft(delivered.as_bytes()))
    _, second = _complaints(platform, 2)
    # All three deliveries done: the repeated report stored nothing more.
    assert wait_until(lambda: platform.postfix.log().count("relay=lwsmail-fbl") == 3, timeout=30)
    assert platform.postfix.log().count("status=sent (delivered via lwsmail-fbl") == 3
    assert (second.matched_by, second.counted, second.reporter) == (
        "reference",
        False,
        "outlook.test",
    )
    assert Complaint.objects.count() == 2

    client.force_login(customer)
    page = client.get(reverse("message", args=[message.hosting_id, message.pk]))
    assert "plainte de yahoo.test" in page.content.decode()  # marie reads French


def test_a_forged_reference_is_parked_and_a_report_without_one_matches_by_message_id(
    platform, customer
):
    address = customer.box.address
    platform.send(address, subject="Newsletter di dicembre")
    delivered = platform.wait_delivered("Newsletter di dicembre")
    platform.wait_recorded(address, 1)
    message = OutboundMessage.objects.get(sender=address)

    # A report whose reference was altered matches nothing, not even by Message-ID.
    altered = delivered.as_bytes().replace(str(delivered["X-LWS-Ref"]).encode(), FORGED.encode(), 1)
    platform.postfix.fbl.send(yahoo(altered))
    assert wait_until(lambda: ParkedReport.objects.exists(), timeout=30), platform.postfix.log()
    assert "forged" in ParkedReport.objects.get().reason
    assert not Complaint.objects.exists()

    # The provider stripped the reference: the Message-ID finds the message.
    del delivered["X-LWS-Ref"]
    platform.postfix.fbl.send(microsoft(delivered.as_bytes()))
    (complaint,) = _complaints(platform, 1)
    assert (complaint.message_id, complaint.matched_by) == (message.pk, "message_id")
