"""Which image URLs may be fetched: http(s) only, to configured hosts (and ports), and to private addresses only
where a configured entry says so.

Post URLs come from a third party (the API, a manifest someone sent), so they are untrusted input: without
these rules a URL could read local files (file://) or reach services inside the network (SSRF). Names are
checked when they are resolved, on the addresses actually connected to, so a DNS answer cannot smuggle in a
private address that the name check let through; redirects are checked hop by hop by the fetcher.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from likeability.config import ConfigError, DownloadConfig


class BlockedAddress(OSError):
    """A host name resolved only to addresses the policy forbids."""


@dataclass(frozen=True)
class Destination:
    """One entry of download.allowed_hosts or download.private_hosts: `host`, `*.suffix`, either with `:port`."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> Destination:
        text = entry.strip().lower()
        if text.startswith("["):  # [IPv6] or [IPv6]:port
            host, bracket, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None if rest or not bracket else ""
        elif text.count(":") == 1:
            host, port = text.split(":")
        else:  # a name, *.suffix, IPv4, or a bare IPv6 literal
            host, port = text, ""
        if not host or port is None or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValueError(f"{entry!r} is not a host, *.suffix or [IPv6], with or without :port")
        return cls(host if host.startswith("*.") else canonical_host(host), int(port) if port else None)

    def matches(self, host: str, port: int) -> bool:
        named = host == self.host or (self.host.startswith("*.") and host.endswith(self.host[1:]))
        return named and self.port in (None, port)


class UrlPolicy:
    def __init__(self, allowed_hosts: list[str], private_hosts: list[str] = ()):
        self.allowed = [Destination.parse(entry) for entry in allowed_hosts]
        self.private = [Destination.parse(entry) for entry in private_hosts]

    @classmethod
    def of(cls, config: DownloadConfig) -> UrlPolicy:
        """The policy `config` describes; a malformed entry is a ConfigError naming its key."""
        try:
            return cls(config.allowed_hosts, config.private_hosts)
        except ValueError as err:
            raise ConfigError(f"download.allowed_hosts / download.private_hosts: {err}") from None

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be fetched, or None when it may."""
        try:
            parts = urlsplit(url)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)  # .port raises for a bad port
            host = canonical_host(parts.hostname or "")
        except ValueError as err:
            return f"malformed URL: {err}"
        if parts.scheme not in DEFAULT_PORTS:
            return f"scheme {parts.scheme or '(none)'!r} is not http or https"
        if not host:
            return "URL has no host"
        if parts.username is not None or parts.password is not None:
            return "URL carries credentials"
        if not any(d.matches(host, port) for d in self.allowed):
            return f"host {host}:{port} is not in download.allowed_hosts"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None  # a name: its addresses are checked when it is resolved
        if self.address_allowed(address, host, port):
            return None
        return f"address {host} is private or reserved, and download.private_hosts does not name {host}:{port}"

    def address_allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str, port: int) -> bool:
        """A public address always; a private one only for a destination download.private_hosts names."""
        if address.is_global:
            return True
        host = canonical_host(host)
        return any(d.matches(host, port) for d in self.private)


def canonical_host(host: str) -> str:
    """A host as the address it reaches when it is an IP literal in any form the network stack accepts
    (2130706433, 0177.0.0.1, 0x7f.1, 127.1, ::ffff:127.0.0.1 all mean 127.0.0.1); a name lower-cased."""
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC_IPV4.fullmatch(host):
            return host
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))  # the C library's own reading of the forms
        except OSError:
            return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


DEFAULT_PORTS = {"http": 80, "https": 443}
# Up to four dot-separated decimal, octal (leading 0) or hex (0x) numbers: the forms inet_aton reads as IPv4.
_NUMERIC_IPV4 = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")


class PolicyResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the policy allows."""

    def __init__(self, policy: UrlPolicy, resolver: AbstractResolver | None = None):
        self._policy = policy
        self._resolver = resolver or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        allowed = [a for a in answers if self._policy.address_allowed(ipaddress.ip_address(a["host"]), host, port)]
        if not allowed:
            raise BlockedAddress(f"{host} resolves only to private or reserved addresses")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()
