"""Where a webhook may go. Staff type the URL, and whoever controls its DNS chooses where
it leads: without a check the worker would POST signed events to the provider's own
Redis, its cloud's metadata service or any internal panel, and keep their answers.

Every address the receiver's name resolves to must be a public one, unless it lies in
WEBHOOK_ALLOWED_NETWORKS (an internal receiver, allowed on purpose). The check runs when
the endpoint is saved and again at each delivery, and the delivery connects to the very
address it checked (the name is not resolved a second time by the HTTP client), so a name
that changes its answer between the two (DNS rebinding) gains nothing."""

from __future__ import annotations

import ipaddress
import socket

import httpx
from django.conf import settings

from hosting.networks import IPAddress, IPNetwork, networks_of

# (test, what the address is), in the order the reason names the first that applies.
_KINDS = (
    ("is_unspecified", "an unspecified"),
    ("is_loopback", "a loopback"),
    ("is_link_local", "a link-local"),
    ("is_multicast", "a multicast"),
    ("is_reserved", "a reserved"),
    ("is_private", "a private"),
)


class RefusedDestination(ValueError):
    """A webhook URL that leads somewhere it must not, with the reason."""


def allowed_networks() -> tuple[IPNetwork, ...]:
    return networks_of(settings.WEBHOOK_ALLOWED_NETWORKS, "WEBHOOK_ALLOWED_NETWORKS")


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook may not connect to this address; None when it may."""
    networks = allowed_networks()
    if any(address in n for n in networks):
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(mapped in n for n in networks):
            return None
        address = mapped
    for test, kind in _KINDS:
        if getattr(address, test):
            return f"{address} is {kind} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def resolve_name(host: str, port: int) -> list[str]:
    """The addresses DNS gives for a name (the tests replace it: no lookup leaves them)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def host_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address `host` stands for: itself when it is an address in any of the forms
    the C library reads (2130706433 and 0x7f.1 are 127.0.0.1), else what DNS answers."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        found = [info[4][0] for info in infos]
    except socket.gaierror:
        try:
            found = resolve_name(host, port)
        except (OSError, UnicodeError) as exc:
            raise RefusedDestination(f"{host} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for text in found:
        address = ipaddress.ip_address(text.partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedDestination(f"{host} does not resolve")
    return addresses


def destination_check(url: str) -> list[IPAddress]:
    """The addresses a webhook to `url` may connect to, or RefusedDestination naming the
    first that it may not (any one refused refuses the URL: DNS picks which is used)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise RefusedDestination(f"not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise RefusedDestination("an http:// or https:// URL with a host is needed")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = host_addresses(parsed.host, port)
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            raise RefusedDestination(
                f"{parsed.host}: {reason}, inside a network a webhook may not reach "
                "(WEBHOOK_ALLOWED_NETWORKS permits one on purpose)"
            )
    return addresses


def pinned_request_args(url: str, address: IPAddress) -> tuple[httpx.URL, dict, dict]:
    """The URL with `address` in place of its host, the Host header and the TLS name to
    send: the connection goes to the address checked, the receiver sees its own name."""
    parsed = httpx.URL(url)
    host_header = parsed.netloc.decode("ascii").rpartition("@")[2]
    extensions: dict = {}
    if parsed.scheme == "https":
        extensions["sni_hostname"] = parsed.host
    return parsed.copy_with(host=str(address)), {"Host": host_header}, extensions
