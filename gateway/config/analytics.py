"""The analytics store: ClickHouse, optional (CLICKHOUSE_URL; off when unset). Read once at
start-up with the other settings (gateway/config/settings.py holds them as `settings.analytics`).

CLICKHOUSE_URL is the HTTP interface's address, with its user and password if it has them
(`http://meterway:secret@clickhouse:8123`); CLICKHOUSE_DATABASE the database Meterway keeps
its tables in (made if missing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

from gateway.config import values as v
from gateway.config.values import ConfigError

Get = Callable[..., object]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class AnalyticsSettings:
    url: str = ""  # the HTTP interface, without credentials; "" is off
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = "meterway"
    batch_rows: int = 10_000
    every_s: float = 5.0
    timeout_s: float = 30.0  # the copy's statements
    read_timeout_s: float = 2.0  # a report's read, and the check before it: then PostgreSQL
    max_lag_s: float = 60.0  # reports read ClickHouse while its copy lags no more than this

    @property
    def enabled(self) -> bool:
        return bool(self.url)


def analytics_settings(get: Get) -> AnalyticsSettings:
    raw = str(get("CLICKHOUSE_URL", "") or "")
    database = str(get("CLICKHOUSE_DATABASE", "meterway") or "meterway")
    if not _NAME.fullmatch(database):
        raise ConfigError(f"CLICKHOUSE_DATABASE must be a plain name, got {database!r}")
    batch = v.whole("CLICKHOUSE_COPY_BATCH", get("CLICKHOUSE_COPY_BATCH", 10_000), 1)
    every_s = v.number("CLICKHOUSE_COPY_EVERY_S", get("CLICKHOUSE_COPY_EVERY_S", 5), 0.05)
    max_lag_s = v.number("CLICKHOUSE_MAX_LAG_S", get("CLICKHOUSE_MAX_LAG_S", 60), 0)
    read_s = v.number("CLICKHOUSE_READ_TIMEOUT_S", get("CLICKHOUSE_READ_TIMEOUT_S", 2), 0.05)
    off = AnalyticsSettings(database=database, batch_rows=batch, every_s=every_s,
                            max_lag_s=max_lag_s, read_timeout_s=read_s)  # fmt: skip
    if not raw:
        return off
    v.url("CLICKHOUSE_URL", raw, ("http", "https"))
    parts = urlsplit(raw)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return replace(
        off,
        url=f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}",
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )
