"""Scrubbing a provider's or an MCP server's text before a client reads it: the one secret
scrubber (gateway/scrubbing.py's `scrub`), then internal addresses out.

Provider error bodies sometimes echo the request's headers (the operator's API key, a SigV4
signature), name the operator's organization and project, or name the internal address they
were reached at (a proxy's `http://10.1.2.3:8443/internal/v1`, a presigned URL's
`X-Amz-Signature=`); aiohttp logs raw request bytes (a client's key) when a request is
malformed. All of it passes through here, so the patterns live in one place: credentials by
shape, echoed headers by name, query values by name, internal URLs by host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gateway import addresses
from gateway.scrubbing import redact, scrub

if TYPE_CHECKING:
    from gateway.config.settings import Settings
    from gateway.errors import MeterwayError

INTERNAL_URL = "[internal-url]"
INTERNAL_HOST = "[internal-host]"

# A URL, also as JSON may escape it (`http:\/\/10.1.2.3\/internal`).
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}:(?://|\\/\\/)(?:[^\s\"'<>\\]|\\/)+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_INTERNAL_NAMES = ("localhost", "metadata.google.internal")
_INTERNAL_SUFFIXES = (".internal", ".local", ".localhost", ".svc", ".cluster.local")


def internal_address(host: str) -> bool:
    """An IP that is not on the public internet, as egress judges it (gateway/addresses.py:
    loopback, private, link-local, shared, reserved, unspecified, multicast, and the IPv6
    forms that carry such an IPv4 address)."""
    return addresses.is_internal(host)


def _internal_host(host: str, hosts: frozenset[str]) -> bool:
    host = host.lower().rstrip(".")
    return (
        ("." not in host and ":" not in host)  # one label (`proxy`, a container): local
        or host in hosts
        or internal_address(host)
        or host in _INTERNAL_NAMES
        or host.endswith(_INTERNAL_SUFFIXES)
    )


def _url(match: re.Match[str], hosts: frozenset[str]) -> str:
    url = match.group(0)
    try:
        host = urlsplit(url.replace("\\/", "/")).hostname or ""
    except ValueError:
        return INTERNAL_URL  # not even a URL we can read: say nothing of it
    return INTERNAL_URL if _internal_host(host, hosts) else url


def _ipv4(match: re.Match[str]) -> str:
    return INTERNAL_HOST if internal_address(match.group(0)) else match.group(0)


def for_client(text: str, secrets: Iterable[str] = (), hosts: Iterable[str] = ()) -> str:
    """A provider's text as a client may read it: `scrub`bed, and every URL on an internal
    host (an address off the public internet, or one of `hosts`: the operator's upstreams)
    and every internal IPv4 address replaced by a placeholder. Logs keep those (operators
    need them); clients never see where the gateway's upstreams live."""
    internal = frozenset(h.lower().rstrip(".") for h in hosts if h)
    text = _URL.sub(lambda m: _url(m, internal), scrub(text, secrets))
    return _IPV4.sub(_ipv4, text)


@dataclass(frozen=True, slots=True)
class ClientScrubber:
    """`for_client` with the operator's secrets and upstream hosts bound: what every surface
    that hands a provider's or an MCP server's text to a client calls (chat and its streams'
    error events, Realtime events and handshakes, MCP answers and errors)."""

    secrets: tuple[str, ...]
    hosts: frozenset[str]

    def text(self, text: str) -> str:
        return for_client(text, self.secrets, self.hosts)

    def secrets_out(self, text: str) -> str:
        """Only the operator's own secrets replaced: for text a client asked for (a tool's
        result, a model's words), which the other patterns could spoil."""
        return redact(text, self.secrets)

    def error(self, exc: MeterwayError) -> None:
        """`exc` (an upstream's failure, about to be answered) made fit for a client: its
        message and every text in its body's extras scrubbed, in place."""
        exc.message = self.text(exc.message)
        exc.args = (exc.message,)
        exc.extra = {k: self.text(v) if isinstance(v, str) else v for k, v in exc.extra.items()}


def operator_scrubber(settings: Settings) -> ClientScrubber:
    """The operator's secrets (providers' keys and tokens, ADMIN_API_KEY, each MCP server's
    credential and the token inside it) and the hosts of its upstreams, providers and MCP
    servers alike: a client never learns either."""
    providers = settings.providers.values()
    secrets = [p.api_key for p in providers] + [p.entra_token for p in providers]
    for server in settings.mcp.values():
        secrets += [server.auth, server.auth.partition(" ")[2]]  # `Bearer x` and `x`
    urls = [p.base_url for p in providers] + [s.url for s in settings.mcp.values()]
    hosts = {urlsplit(url).hostname or "" for url in urls} - {""}
    kept = tuple(s for s in dict.fromkeys([*secrets, settings.admin_api_key]) if s)
    return ClientScrubber(kept, frozenset(hosts))
