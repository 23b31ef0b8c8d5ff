"""The blocklist monitor against a private DNS server of the tests: listed, not listed,
Spamhaus's 127.255.255.254 (an error, never a listing), a time-out, SERVFAIL; IPv4 and
IPv6; a listing and a delisting reach the dashboard, the metrics and the webhooks; never
more lookups at once than DNSBL_CONCURRENCY."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reputation.blocklists import blocklists_check, query_name, resolver_address
from reputation.models import BlocklistStatus, BlocklistZone, OutboundAddress
from tests.harness.dns_server import SERVFAIL, SILENT, DnsServer
from webhooks.events import Event
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
LISTED, CLEAN, V6 = "192.0.2.25", "192.0.2.26", "2001:db8::25"


@pytest.fixture
def monitored(settings):
    BlocklistZone.objects.all().delete()
    for zone in ("zen.spamhaus.org", "bl.spamcop.net"):
        BlocklistZone.objects.create(zone=zone)
    for address in (LISTED, CLEAN, V6):
        OutboundAddress.objects.create(address=address)
    settings.DNSBL_TIMEOUT = 0.5
    return settings


def _status(address: str, zone: str) -> BlocklistStatus:
    return BlocklistStatus.objects.get(address__address=address, zone__zone=zone)


def test_query_names_reverse_octets_and_nibbles():
    assert query_name("192.0.2.25", "zen.spamhaus.org") == "25.2.0.192.zen.spamhaus.org."
    assert query_name("2001:db8::25", "zen.spamhaus.org.").startswith("5.2.0.0.0.0.0.0.")
    assert query_name("2001:db8::25", "zen.spamhaus.org").endswith(
        "8.b.d.0.1.0.0.2.zen.spamhaus.org."
    )


def test_each_answer_is_a_listing_a_clear_verdict_or_an_error(monitored):
    answers = {
        query_name(LISTED, "zen.spamhaus.org"): ["127.0.0.2", "127.0.0.4"],
        query_name(LISTED, "bl.spamcop.net"): SILENT,
        query_name(V6, "zen.spamhaus.org"): ["127.255.255.254"],
        query_name(V6, "bl.spamcop.net"): SERVFAIL,
    }  # the rest: NXDOMAIN
    with DnsServer(answers) as dns:
        monitored.DNSBL_RESOLVER = dns.address
        checked = blocklists_check(now=T0)

    assert (checked.looked_up, checked.listed, checked.errors) == (6, 1, 3)
    listed = _status(LISTED, "zen.spamhaus.org")
    assert (listed.listed, listed.codes, listed.error) == (True, "127.0.0.2,127.0.0.4", "")
    assert not _status(CLEAN, "zen.spamhaus.org").listed
    assert "time-out" in _status(LISTED, "bl.spamcop.net").error
    refused = _status(V6, "zen.spamhaus.org")
    assert not refused.listed and "refused the query (127.255.255.254)" in refused.error
    assert "SERVFAIL" in _status(V6, "bl.spamcop.net").error


def test_a_listing_and_a_delisting_fire_webhooks_and_an_error_changes_neither(monitored):
    Endpoint.objects.create(
        name="noc",
        url="https://noc.example/hook",
        events=[Event.BLOCKLIST_LISTED, Event.BLOCKLIST_DELISTED],
    )
    name = query_name(LISTED, "zen.spamhaus.org")
    for answer, at in ((["127.0.0.3"], T0), (SILENT, T0 + timedelta(minutes=15))):
        with DnsServer({name: answer}) as dns:
            monitored.DNSBL_RESOLVER = dns.address
            blocklists_check(now=at)
    status = _status(LISTED, "zen.spamhaus.org")
    assert (status.listed, status.since, status.codes) == (True, T0, "127.0.0.3")
    assert status.error.startswith("time-out")
    assert list(Delivery.objects.values_list("event", flat=True)) == [Event.BLOCKLIST_LISTED]

    with DnsServer({}) as dns:
        monitored.DNSBL_RESOLVER = dns.address
        blocklists_check(now=T0 + timedelta(minutes=30))
    status = _status(LISTED, "zen.spamhaus.org")
    assert (status.listed, status.since, status.error) == (False, T0 + timedelta(minutes=30), "")
    events = list(Delivery.objects.order_by("id").values_list("event", "body"))
    assert [e for e, _ in events] == [Event.BLOCKLIST_LISTED, Event.BLOCKLIST_DELISTED]
    assert f'"address": "{LISTED}"' in events[1][1] and '"zone": "zen.spamhaus.org"' in events[1][1]


def test_lookups_in_flight_never_exceed_the_configured_bound(monitored):
    for n in range(20):
        OutboundAddress.objects.create(address=f"198.51.100.{n + 1}")
    monitored.DNSBL_CONCURRENCY = 4
    # No lookup may time out: one given up frees its place while the server still holds
    # the query, which a loaded machine took for a fifth in flight.
    monitored.DNSBL_TIMEOUT = 30
    with DnsServer({}, delay=0.2) as dns:
        monitored.DNSBL_RESOLVER = dns.address
        checked = blocklists_check(now=T0)
    assert checked.looked_up == 46 and len(dns.queries) == 46
    assert dns.most_in_flight == 4


def test_the_listing_shows_on_the_dashboard_and_in_the_metrics(monitored, admin_client, client):
    with DnsServer({query_name(LISTED, "bl.spamcop.net"): ["127.0.0.2"]}) as dns:
        monitored.DNSBL_RESOLVER = dns.address
        call_command("blocklists_check")
    page = admin_client.get("/admin/operations/").content.decode()
    assert "LISTED" in page and "bl.spamcop.net" in page and "127.0.0.2" in page
    metrics = client.get("/metrics").content.decode()
    assert f'lwsmail_blocklist_listed{{address="{LISTED}",zone="bl.spamcop.net"}} 1.0' in metrics
    assert f'lwsmail_blocklist_listed{{address="{CLEAN}",zone="bl.spamcop.net"}} 0.0' in metrics


def test_a_resolver_that_is_no_address_is_a_clear_command_error(monitored):
    monitored.DNSBL_RESOLVER = "dns.example.net"
    with pytest.raises(CommandError, match="DNSBL_RESOLVER"):
        call_command("blocklists_check")
    assert resolver_address("[::1]:5353") == ("::1", 5353)
    assert resolver_address("192.0.2.53") == ("192.0.2.53", 53)
