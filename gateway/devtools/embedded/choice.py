"""Which stores `meterway dev` (or `serve --embedded`) runs itself.

Per store, the first that applies: a URL set in the environment or the TOML file is used;
else (`dev` only) a server answering on the default address is used; else one is
embedded. A probe is a TCP connect and nothing more: whether the server speaks the right
protocol is for the stores to find out, as with any URL.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.cli.dev_guard import DEFAULT_DATABASE_URL
from gateway.config.values import DEFAULT_REDIS_URL

PROBE_TIMEOUT_S = 0.5

# Whether something accepts a TCP connection at (host, port).
Probe = Callable[[str, int], bool]


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@dataclass(frozen=True)
class Choice:
    """What to embed, and for people, why each store is what it is."""

    embed_postgres: bool
    embed_redis: bool
    why_postgres: str
    why_redis: str

    @property
    def any(self) -> bool:
        return self.embed_postgres or self.embed_redis


def _one(given: str | None, default: str, port: int, probe: Probe | None) -> tuple[bool, str]:
    if given:
        return False, "as set"
    if probe is None:
        return True, "no URL set"
    host, p = address(default, port)
    if probe(host, p):
        return False, f"the server answering on {host}:{p}"
    return True, f"nothing answered on {host}:{p}"


def choose(given: Mapping[str, str | None], probe: Probe | None = answers) -> Choice:
    """`given`: each store's URL settings as explicitly set (None when not). Without a
    probe (`serve --embedded`) every store not set is embedded: `serve` has no default
    database to look for."""
    redis_given = given.get("REDIS_URL") or given.get("REDIS_CLUSTER_URLS")
    pg, why_pg = _one(given.get("DATABASE_URL"), DEFAULT_DATABASE_URL, 5432, probe)
    rd, why_rd = _one(redis_given, DEFAULT_REDIS_URL, 6379, probe)
    return Choice(pg, rd, why_pg, why_rd)
