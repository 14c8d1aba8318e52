"""Where a usage report reads: ClickHouse when it is configured, is the store the copy's
watermark counts and its copy of the ledger has caught up (lag within CLICKHOUSE_MAX_LAG_S,
measured afresh at most a second before: services/usage/analytics_freshness.py), PostgreSQL's
rollups otherwise, and PostgreSQL again whenever ClickHouse fails to answer within
CLICKHOUSE_READ_TIMEOUT_S. Both give the same sums (the tests compare them report by
report), so the choice changes how fast, never what."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from gateway.stores.errors import AnalyticsUnavailable
from gateway.stores.ports.usage.analytics import Target
from gateway.stores.ports.usage.reports import UsageSeriesPort

log = logging.getLogger("meterway.analytics")


class Fresh(Protocol):
    async def serving(self) -> Target | None:
        """The store reports may read now (None: PostgreSQL)."""
        ...

    async def still(self, approved: Target) -> bool:
        """Whether, after a read, the store is still the one approved."""
        ...


@dataclass
class UsageReads:
    postgres: UsageSeriesPort
    clickhouse: UsageSeriesPort | None = None
    fresh: Fresh | None = None
    answered_by: str = "postgres"  # the last report's store

    async def usage_series(
        self,
        account_id: str,
        start: date,
        end: date,
        by: Sequence[str],
        filters: Mapping[str, str],
    ) -> Sequence[Mapping[str, Any]]:
        approved = await self.fresh.serving() if self.fresh is not None else None
        if self.clickhouse is not None and self.fresh is not None and approved is not None:
            try:
                rows = await self.clickhouse.usage_series(account_id, start, end, by, filters)
                if await self.fresh.still(approved):
                    self.answered_by = "clickhouse"
                    return rows
                log.warning("usage from PostgreSQL: ClickHouse changed under the read")
            except AnalyticsUnavailable as exc:
                log.warning("usage from PostgreSQL: ClickHouse did not answer (%s)", exc)
        self.answered_by = "postgres"
        return await self.postgres.usage_series(account_id, start, end, by, filters)
