"""Addresses and networks, parsed one way for every setting and every client address:
the networks a setting lists (trusted proxies, the policy service's clients, Prometheus's
scrapers, webhook receivers allowed inside) and the network a client address is in."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=32)
def _parsed(values: tuple[str, ...], setting: str) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())
    except ValueError as exc:
        raise ValueError(f"{setting}: {exc}") from None


def networks_of(values: Iterable[str], setting: str) -> tuple[IPNetwork, ...]:
    """The networks a setting lists ("10.0.0.0/8, ::1"); ValueError naming the setting for
    an entry that is not one. Parsed once per distinct value."""
    return _parsed(tuple(values), setting)


def address_in(address: str, networks: Iterable[IPNetwork]) -> bool:
    """Whether the text `address` is an address inside one of `networks` (False for junk)."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_network(address: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    """The client's network ("192.0.2.0/24"), '' for anything that is not an address."""
    for family, bits, prefix in (
        (socket.AF_INET, 32, ipv4_prefix),
        (socket.AF_INET6, 128, ipv6_prefix),
    ):
        try:
            packed = socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        prefix = max(0, min(prefix, bits))
        number = int.from_bytes(packed, "big") >> (bits - prefix) << (bits - prefix)
        return f"{socket.inet_ntop(family, number.to_bytes(bits // 8, 'big'))}/{prefix}"
    return ""


def listen_address(value: str) -> tuple[str, int]:
    """A daemon's --listen value (IP:PORT, [IPv6]:PORT) as host and port; ValueError saying
    what is expected."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError(
            f"--listen must be IP:PORT (e.g. 127.0.0.1:10040), not {value!r}"
        ) from None
    if not sep or not 0 < number < 65536:
        raise ValueError(f"--listen port must be 1-65535, not {port!r}")
    return host, number
