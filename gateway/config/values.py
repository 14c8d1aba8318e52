"""Reading one configured value: cast, checked, or refused with a line naming the setting.

Kept apart from `settings.py`, which says which settings there are; these say what a valid
value of each kind is. Every refusal is a `ConfigError`, which the CLI prints as one line.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Get = Callable[[str, object], object]

# Values a secret is left at by someone who meant to change it: refused at boot.
PLACEHOLDERS = frozenset({"", "changeme", "change-me", "xxx", "todo"})


class ConfigError(ValueError):
    """A setting is missing or invalid; the CLI prints it as one line and exits 2."""


def listen(value: str, name: str = "LISTEN_ADDR") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name} must look like 0.0.0.0:8080, got {value!r}")
    return host or "0.0.0.0", int(port)


def url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{name} must be a {'/'.join(schemes)} URL, got {value!r}")
    return value


def cluster_seeds(name: str, raw: str) -> tuple[str, ...]:
    """Seed node URLs from `REDIS_CLUSTER_URLS` (comma-separated redis://host:port, or bare
    host:port) or a `redis+cluster://[user:pass@]host:port,host:port` REDIS_URL. A cluster has
    only database 0, and the lean hot-path client speaks plain TCP, so both are checked here."""
    seeds: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        address = item if "://" in item else f"redis://{item}"
        parts = urlsplit(address)
        if parts.scheme != "redis" or not parts.hostname or parts.query:
            raise ConfigError(f"{name}: {item!r} is not a redis://host:port seed node")
        if parts.path.strip("/") not in ("", "0"):
            raise ConfigError(f"{name}: a Redis Cluster has only database 0, got {item!r}")
        try:
            port = parts.port or 6379
        except ValueError as exc:
            raise ConfigError(f"{name}: bad port in {item!r}") from exc
        auth = parts.netloc.rpartition("@")[0]
        seeds.append(f"redis://{auth + '@' if auth else ''}{parts.hostname}:{port}")
    if not seeds:
        raise ConfigError(f"{name} names no seed node")
    return tuple(seeds)


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_location(get: Get) -> dict[str, Any]:
    """REDIS_URL, or a Redis Cluster's seed nodes (REDIS_CLUSTER_URLS or redis+cluster://)."""
    address = str(get("REDIS_URL", DEFAULT_REDIS_URL))
    cluster_urls = str(get("REDIS_CLUSTER_URLS", ""))
    if address.startswith("redis+cluster://"):
        userinfo, _, rest = address.removeprefix("redis+cluster://").rpartition("@")
        hosts = rest.split("/", 1)[0]
        path = rest.split("/", 1)[1] if "/" in rest else ""
        auth = userinfo + "@" if userinfo else ""
        cluster_urls = ",".join(f"redis://{auth}{h}/{path}" for h in hosts.split(","))
        name = "REDIS_URL"
    else:
        address = url("REDIS_URL", address, ("redis", "rediss", "unix"))
        name = "REDIS_CLUSTER_URLS"
    if not cluster_urls.strip():
        return {"redis_url": address}
    seeds = cluster_seeds(name, cluster_urls)
    return {"redis_url": seeds[0], "redis_cluster": seeds}


def number(name: str, value: object, minimum: float) -> float:
    """A duration or rate. Python's float() reads 'nan' and 'inf' too: a NaN passes every
    comparison with the minimum, and either one got past the checks here only to fail the
    start with a traceback from wherever it was first made an integer (the hot store's
    reservation deadline, for UPSTREAM_TIMEOUT_S), so neither is a number here."""
    try:
        n = float(str(value))
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(n):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if n < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value!r}")
    return n


def whole(name: str, value: object, minimum: int, what: str = "a whole number") -> int:
    """A count, a size or whole seconds, never read through a float: int(float('2.5')) would
    quietly make WORKERS=2.5 two workers and PAYMENT_GRACE_DAYS=0.5 no grace at all."""
    try:
        n = int(str(value).strip())
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, got {value!r}") from exc
    if n < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value!r}")
    return n


def micros(name: str, value: object, minimum: int) -> int:
    """An amount in USD micros: an exact integer, never read through a float (which would
    round a large amount and silently truncate '1.5')."""
    return whole(name, value, minimum, "a whole number of micros")


def zone(value: str) -> str:
    """An IANA zone name; an unknown one fails the boot here, not with a traceback later."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"QUOTA_TIMEZONE must be an IANA time zone name, got {value!r}") from exc
    return value


def flag(value: object) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def one_of(name: str, get: Get, default: str, allowed: tuple[str, ...]) -> str:
    value = str(get(name, default)).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def read_toml(path: Path | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
