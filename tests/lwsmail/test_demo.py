from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from abuse.models import Block
from hosting.models import Hosting
from tracking.models import MessageContent, OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _laptop(settings):
    settings.DEBUG = True  # the demo is for a laptop


def test_the_demo_has_two_hostings_an_l_spam20_and_a_timed_l_spam00(client):
    call_command("demo_load")

    assert Hosting.objects.count() == 2
    active = {b.target: b for b in Block.objects.active()}
    assert active["contact@boulangerie-martin.fr"].code == "L-SPAM20"
    assert active["luca@blog-voyages.it"].code == "L-SPAM00"
    assert active["luca@blog-voyages.it"].ends_at is not None
    assert OutboundMessage.objects.count() > 400
    # Content only for the last 72 hours, as the sweep leaves it.
    assert 0 < MessageContent.objects.count() < OutboundMessage.objects.count()
    response = client.post("/accounts/login/", {"username": "demo", "password": "demo"})
    assert response.status_code == 302
    page = client.get("/", follow=True).content.decode()
    assert "boulangerie-martin" in page and "blog-voyages" in page
    client.post("/accounts/login/", {"username": "admin", "password": "admin"})
    assert client.get("/admin/abuse/block/").status_code == 200


def test_loading_the_demo_twice_is_refused_with_a_message():
    call_command("demo_load")

    with pytest.raises(CommandError, match="already loaded"):
        call_command("demo_load")


def test_with_debug_off_the_demo_needs_force(settings):
    from django.contrib.auth import get_user_model

    settings.DEBUG = False

    with pytest.raises(CommandError, match="admin/admin"):
        call_command("demo_load")
    assert not get_user_model().objects.exists()

    call_command("demo_load", "--force")
    assert get_user_model().objects.filter(username="admin").exists()


def test_demo_spam_goes_through_the_ingest_events_and_starts_a_block():
    from ingest.events import ingest_event_process
    from tracking.models import IngestEvent

    call_command("demo_load")
    address = "marie@boulangerie-martin.fr"

    call_command("demo_spam", address, "1")

    for pk in IngestEvent.objects.values_list("pk", flat=True):
        ingest_event_process(event_id=pk)
    assert Block.objects.active().get(target=address).code == "L-SPAM00"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nobody@nowhere.example"], "is not a mailbox"),
        (["marie@boulangerie-martin.fr", "0"], "from 1 to 500"),
    ],
)
def test_demo_spam_refuses_bad_input_with_a_message(args, says):
    call_command("demo_load")

    with pytest.raises(CommandError, match=says):
        call_command("demo_spam", *args)


def test_the_demo_history_tells_a_consistent_story():
    from tracking.models import OutboundMessage

    call_command("demo_load")

    # Nothing "sent" while its sender stood blocked: such mail shows as refused.
    for block in Block.objects.filter(scope="address"):
        end = block.lifted_at or block.ends_at
        during = OutboundMessage.objects.filter(sender=block.target, sent_at__gt=block.started_at)
        if end is not None:
            during = during.filter(sent_at__lt=end)
        assert not during.exclude(status="blocked").exists(), block
    # A French bakery writes its ordinary mail in French.
    bakery_ham = OutboundMessage.objects.filter(
        sender__endswith="@boulangerie-martin.fr", is_spam=False, status="sent"
    ).values_list("subject", flat=True)
    assert bakery_ham and not any("Conferma" in s or "Newsletter di" in s for s in bakery_ham)
    # No report says both spam and ham.
    from tracking.models import MessageContent

    for symbols in MessageContent.objects.values_list("symbols", flat=True):
        assert not {"BAYES_SPAM", "BAYES_HAM"} <= set(symbols)
