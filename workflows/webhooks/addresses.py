"""Which addresses a webhook may reach: by default only the public internet.

A URL naming a private, loopback, link-local or otherwise non-public address would let
whoever registers an endpoint make the server call its own neighbours. The sender checks
every address a name resolves to when it connects (so a name that later resolves
elsewhere gains nothing); registering refuses a URL whose host is such an address
outright. An operator may allow all of them (``allow_private``) or named networks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from workflows.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_URL = 2000


@dataclass(frozen=True)
class AddressPolicy:
    """Where outgoing webhook requests may connect."""

    allow_private: bool = False
    """Every address, private and loopback included."""
    allowed: tuple[IPNetwork, ...] = ()
    """Non-public networks allowed all the same (a receiver on the office network)."""

    @classmethod
    def of(cls, *, allow_private: bool, networks: Iterable[str] = ()) -> AddressPolicy:
        """A policy from settings' values; a network that cannot be read is refused."""
        allowed = []
        for text in networks:
            try:
                allowed.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise InvalidInput(f"'{text}' is not a network like 10.1.0.0/16") from None
        return cls(allow_private=allow_private, allowed=tuple(allowed))

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why ``address`` may not be connected to, or None when it may."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.allow_private or (ip.is_global and not ip.is_multicast):
            return None
        if any(ip in network for network in self.allowed):
            return None
        return f"{ip} is a {_nature(ip)} address, which webhooks may not reach"


def _nature(ip: IPAddress) -> str:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_private:
        return "private"
    return "non-public"


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally, if it is one."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, policy: AddressPolicy) -> str:
    """An endpoint URL as it is kept: http(s), with a host, not a literal address the
    policy refuses. A name is checked again, resolved, at every connection."""
    cleaned = url.strip()
    if not cleaned:
        raise InvalidInput("give the endpoint's URL, like https://erp.example.com/hooks")
    if len(cleaned) > MAX_URL:
        raise InvalidInput(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(cleaned)
        port = parts.port
    except ValueError as e:
        raise InvalidInput(f"'{cleaned}' is not a URL: {e}") from None
    if parts.scheme not in ("https", "http"):
        raise InvalidInput(f"'{cleaned}' is not an http or https URL")
    host = parts.hostname
    if not host:
        raise InvalidInput(f"'{cleaned}' names no host")
    if port == 0:
        raise InvalidInput(f"'{cleaned}' names port 0")
    if any(c.isspace() for c in cleaned):
        raise InvalidInput("the URL may not contain spaces")
    address = literal_address(host)
    if address is not None:
        refusal = policy.refusal(address)
        if refusal is not None:
            raise InvalidInput(
                f"{refusal} (an operator may allow it with INKPOST_WEBHOOK_ALLOW_PRIVATE "
                "or INKPOST_WEBHOOK_ALLOWED_NETWORKS)"
            )
    return cleaned
