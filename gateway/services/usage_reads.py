"""Where a usage report reads: ClickHouse when it is configured and its copy of the ledger
has caught up (lag within CLICKHOUSE_MAX_LAG_S), PostgreSQL's rollups otherwise, and
PostgreSQL again whenever ClickHouse fails to answer. Both give the same sums (the tests
compare them report by report), so the choice changes how fast, never what."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from gateway.stores.errors import AnalyticsUnavailable
from gateway.stores.ports.usage import UsageSeriesPort

log = logging.getLogger("meterway.analytics")


class CopyProgress(Protocol):
    def caught_up(self, max_lag_s: float) -> bool: ...


@dataclass
class UsageReads:
    postgres: UsageSeriesPort
    clickhouse: UsageSeriesPort | None = None
    copy: CopyProgress | None = None
    max_lag_s: float = 60.0
    answered_by: str = "postgres"  # the last report's store: /readyz shows it

    def _from_clickhouse(self) -> bool:
        return bool(self.clickhouse and self.copy and self.copy.caught_up(self.max_lag_s))

    async def usage_series(
        self,
        account_id: str,
        start: date,
        end: date,
        by: Sequence[str],
        filters: Mapping[str, str],
    ) -> Sequence[Mapping[str, Any]]:
        if self.clickhouse is not None and self._from_clickhouse():
            try:
                rows = await self.clickhouse.usage_series(account_id, start, end, by, filters)
                self.answered_by = "clickhouse"
                return rows
            except AnalyticsUnavailable as exc:
                log.warning("usage from PostgreSQL: ClickHouse did not answer (%s)", exc)
        self.answered_by = "postgres"
        return await self.postgres.usage_series(account_id, start, end, by, filters)
