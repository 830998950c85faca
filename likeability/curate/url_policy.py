"""Which image URLs may be fetched: http(s) only, to configured hosts, and not to private addresses.

Post URLs come from a third party (the API, a manifest someone sent), so they are untrusted input: without
these rules a URL could read local files (file://) or reach services inside the network (SSRF). Names are
checked when they are resolved, on the addresses actually connected to, so a DNS answer cannot smuggle in a
private address that the name check let through; redirects are checked hop by hop by the fetcher.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class BlockedAddress(OSError):
    """A host name resolved only to addresses the policy forbids."""


class UrlPolicy:
    def __init__(self, allowed_hosts: list[str], allow_private_addresses: bool):
        self.allowed_hosts = [pattern.lower() for pattern in allowed_hosts]
        self.allow_private_addresses = allow_private_addresses

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be fetched, or None when it may."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError as err:
            return f"malformed URL: {err}"
        if parts.scheme not in ("http", "https"):
            return f"scheme {parts.scheme or '(none)'!r} is not http or https"
        if not host:
            return "URL has no host"
        if parts.username is not None or parts.password is not None:
            return "URL carries credentials"
        if not self.host_allowed(host):
            return f"host {host} is not in download.allowed_hosts"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None  # a name: its addresses are checked when it is resolved
        return None if self.address_allowed(address) else f"address {host} is private or reserved"

    def host_allowed(self, host: str) -> bool:
        return any(
            host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
            for pattern in self.allowed_hosts
        )

    def address_allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return self.allow_private_addresses or address.is_global


class PolicyResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the policy allows."""

    def __init__(self, policy: UrlPolicy, resolver: AbstractResolver | None = None):
        self._policy = policy
        self._resolver = resolver or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        allowed = [a for a in answers if self._policy.address_allowed(ipaddress.ip_address(a["host"]))]
        if not allowed:
            raise BlockedAddress(f"{host} resolves only to private or reserved addresses")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()
