"""Usage sums by bucket, as every report reads them (the PostgreSQL rollups, or ClickHouse's
hourly rollup when it is configured and caught up: services/usage/reads.py chooses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol


class UsageSeriesPort(Protocol):
    async def usage_series(
        self,
        account_id: str,
        start: date,
        end: date,
        by: Sequence[str],
        filters: Mapping[str, str],
    ) -> Sequence[Mapping[str, Any]]:
        """Sums per combination of the `by` dimensions over [start, end) (UTC days), each
        row with one field per dimension; `filters` keeps rows whose dimension equals it."""
        ...
