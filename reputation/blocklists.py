"""The blocklist monitor: every outbound address staff list, looked up in every DNS
blocklist zone (zen.spamhaus.org, b.barracudacentral.org, bl.spamcop.net by default) on
the provider's resolver, a bounded number of lookups at once. A listing or a delisting
shows on the operations dashboard with its return codes and zone, as a metric and a
webhook. An answer in 127.255.255.0/24 is Spamhaus refusing the query (a public or
unregistered resolver): an error, never a listing."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime

import dns.asyncresolver
import dns.exception
import dns.resolver
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hosting.counters import count
from reputation.models import BlocklistStatus, BlocklistZone, OutboundAddress
from webhooks.events import Event
from webhooks.services import Occurrence, webhook_events_emit

log = logging.getLogger(__name__)

REFUSED = ipaddress.ip_network("127.255.255.0/24")
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@dataclass(frozen=True)
class Answer:
    listed: bool | None  # None: no verdict (the error says why)
    codes: str = ""
    error: str = ""


@dataclass(frozen=True)
class Checked:
    looked_up: int
    listed: int
    errors: int
    changed: int


def query_name(address: str, zone: str) -> str:
    """The name a DNSBL answers for `address`: its octets (IPv4) or nibbles (IPv6)
    reversed, then the zone."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        labels = reversed(str(ip).split("."))
    else:
        labels = reversed(ip.exploded.replace(":", ""))
    return ".".join(labels) + "." + zone.strip(".") + "."


def answer_read(addresses: list[str]) -> Answer:
    """What the A records a zone answered mean."""
    ips = sorted({ipaddress.ip_address(a) for a in addresses})
    codes = ",".join(str(ip) for ip in ips)
    if any(ip in REFUSED for ip in ips):
        return Answer(None, codes, f"the zone refused the query ({codes}): use your own resolver")
    if not all(ip.version == 4 and ip in LOOPBACK for ip in ips):
        return Answer(
            None, codes, f"not a blocklist answer ({codes}): a resolver rewriting NXDOMAIN?"
        )
    return Answer(True, codes)


def _resolver() -> dns.asyncresolver.Resolver:
    configured = settings.DNSBL_RESOLVER.strip()
    resolver = dns.asyncresolver.Resolver(configure=not configured)
    if configured:
        host, port = resolver_address(configured)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.timeout = resolver.lifetime = settings.DNSBL_TIMEOUT
    resolver.cache = None
    return resolver


def resolver_address(value: str) -> tuple[str, int]:
    """ "ip", "ip:port" or "[ipv6]:port" as (ip, port); ValueError if it is none of them."""
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    ipaddress.ip_address(host)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a port: {port!r}")
    return host, int(port)


async def _lookup(resolver, name: str, limit: asyncio.Semaphore) -> Answer:
    async with limit:
        try:
            found = await resolver.resolve(name, "A", raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return Answer(False)
        except dns.resolver.LifetimeTimeout:
            return Answer(None, error=f"time-out after {settings.DNSBL_TIMEOUT:g} s")
        except dns.resolver.NoNameservers:
            return Answer(None, error="the resolver failed (SERVFAIL or refused)")
        except dns.exception.DNSException as exc:
            return Answer(None, error=f"{type(exc).__name__}: {exc}"[:255])
    if found.rrset is None:
        return Answer(False)  # the name exists with no A record: not listed
    return answer_read([r.address for r in found.rrset])


async def _lookup_all(names: list[str]) -> list[Answer]:
    resolver = _resolver()
    limit = asyncio.Semaphore(max(1, settings.DNSBL_CONCURRENCY))
    return await asyncio.gather(*(_lookup(resolver, n, limit) for n in names))


def blocklists_check(*, now: datetime | None = None) -> Checked:
    """Look every enabled outbound address up in every enabled zone; store each answer,
    and report the listings and delistings (dashboard, metric, webhook)."""
    now = now or timezone.now()
    addresses = list(OutboundAddress.objects.filter(enabled=True))
    zones = list(BlocklistZone.objects.filter(enabled=True))
    pairs = [(a, z) for a in addresses for z in zones]
    if not pairs:
        return Checked(0, 0, 0, 0)
    answers = asyncio.run(_lookup_all([query_name(a.address, z.zone) for a, z in pairs]))
    changes: list[Occurrence] = []
    with transaction.atomic():
        known = {
            (s.address_id, s.zone_id): s
            for s in BlocklistStatus.objects.select_for_update().filter(
                address__in=addresses, zone__in=zones
            )
        }
        for (address, zone), answer in zip(pairs, answers, strict=True):
            status = known.get((address.pk, zone.pk))
            if answer.error:
                log.warning("blocklist %s for %s: %s", zone.zone, address.address, answer.error)
            change = _store(status, address, zone, answer, now)
            if change is not None:
                changes.append(change)
        webhook_events_emit(occurrences=changes)
    listed = sum(1 for a in answers if a.listed)
    errors = sum(1 for a in answers if a.listed is None)
    count("blocklist_lookups", len(answers))
    count("blocklist_lookup_errors", errors)
    return Checked(len(answers), listed, errors, len(changes))


def _store(
    status: BlocklistStatus | None,
    address: OutboundAddress,
    zone: BlocklistZone,
    answer: Answer,
    now: datetime,
) -> Occurrence | None:
    """Save one answer; the occurrence to report when the verdict changed."""
    if status is None:
        status = BlocklistStatus(address=address, zone=zone, since=now, listed=False)
        was = False  # a first lookup that finds a listing reports it
    else:
        was = status.listed
    status.checked_at = now
    status.error = answer.error[:255]
    if answer.listed is not None:
        status.listed = answer.listed
        status.codes = answer.codes[:255]
        if answer.listed != was:
            status.since = now
    status.save()
    if answer.listed is None or answer.listed == was:
        return None
    event = Event.BLOCKLIST_LISTED if answer.listed else Event.BLOCKLIST_DELISTED
    return Occurrence(
        event=event,
        key=f"{event}:{address.address}:{zone.zone}:{now.isoformat()}",
        at=now,
        data={"address": address.address, "zone": zone.zone, "codes": answer.codes},
    )


def blocklist_statuses() -> list[BlocklistStatus]:
    """Every address's last answer from every zone, listings first (the dashboard's)."""
    return list(
        BlocklistStatus.objects.select_related("address", "zone")
        .filter(address__enabled=True, zone__enabled=True)
        .order_by("-listed", "address__address", "zone__zone")
    )
