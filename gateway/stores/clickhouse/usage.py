"""Usage reports from ClickHouse: the same buckets and sums as the PostgreSQL rollups
(stores/postgres/usage/rollups.py `series_sql`), read from the hourly rollup.

ClickHouse sums the account's debits per UTC day, model, key and meter (and end user, when
the report is by or of one), the grain of the PostgreSQL rollups; the rest is done here, as
the rollups' SQL does it: a row's kind from its units, a key's team and member as they are
now (read from the key directory), the filters, and the buckets. By a tag (`tag:<name>`),
the grain is the tag hourly rollup's per value, and as value '' the rest of the usage (the
whole less the tag's rows), as the PostgreSQL rollups' SQL does it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from typing import Any

from billing.pricing.mcp_prices import MODEL_PREFIX
from billing.usage.tags import GROUP_PREFIX, tag_of
from gateway.stores.clickhouse.http import ClickHouseHttp
from gateway.stores.records import COST_FIELDS, USAGE_FIELDS

FIELDS = (*USAGE_FIELDS, *COST_FIELDS)
DIMENSIONS = ("day", "week", "month", "model", "key", "meter", "team", "member", "kind",
              "end_user")  # fmt: skip
KeyGroups = Callable[[str], Awaitable[Mapping[str, tuple[str, str]]]]


def literal(text: str) -> str:
    """A ClickHouse string literal: backslashes and quotes escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def kind_of(row: Mapping[str, Any]) -> str:
    """What a rollup row is a use of, as the rollups' `_KIND` says it."""
    if row["meter"]:
        return "metered"
    if row["model"].startswith(MODEL_PREFIX):
        return "tools"
    for field, kind in (("images", "images"), ("audio_seconds", "audio"), ("characters", "speech")):
        if row[field]:
            return kind
    return "tokens"


def _value(dim: str, row: Mapping[str, Any], groups: Mapping[str, tuple[str, str]]) -> str:
    day = date.fromisoformat(row["day"])
    if dim == "day":
        return day.isoformat()
    if dim == "week":
        return date.fromordinal(day.toordinal() - day.weekday()).isoformat()
    if dim == "month":
        return day.replace(day=1).isoformat()
    if dim in ("team", "member"):
        team, member = groups.get(row["key_id"], ("", ""))
        return team if dim == "team" else member
    if dim == "kind":
        return kind_of(row)
    if dim.startswith(GROUP_PREFIX):
        return str(row["tag_value"])
    return str(row["key_id" if dim == "key" else dim])


class ClickHouseUsage:
    """Implements `usage_series` of the directory's port over ClickHouse."""

    def __init__(self, client: ClickHouseHttp, key_groups: KeyGroups) -> None:
        self.client = client
        self.key_groups = key_groups

    async def usage_series(
        self,
        account_id: str,
        start: date,
        end: date,
        by: Sequence[str],
        filters: Mapping[str, str],
    ) -> list[dict[str, Any]]:
        tag = tag_of(by, filters)
        words = {f"{GROUP_PREFIX}{tag}"} if tag is not None else set()
        unknown = [d for d in by if d not in DIMENSIONS and d not in words]
        unknown += [d for d in filters if d not in DIMENSIONS]
        if unknown or not by:
            raise ValueError(f"unknown usage dimensions {unknown} (or none to group by)")
        per_user = "end_user" in by or "end_user" in filters
        rows = await self._grain(account_id, start, end, per_user)
        if tag is not None:
            rows = await self._with_tag(account_id, (start, end), tag, rows)
        needs_keys = any(d in ("team", "member") for d in (*by, *filters))
        groups = await self.key_groups(account_id) if needs_keys else {}
        buckets: dict[tuple[str, ...], dict[str, int]] = {}
        for row in rows:
            if any(_value(d, row, groups) != v for d, v in filters.items()):
                continue
            key = tuple(_value(d, row, groups) for d in by)
            sums = buckets.setdefault(key, dict.fromkeys(FIELDS, 0))
            for f in FIELDS:
                sums[f] += int(row[f])
        out = [{**dict(zip(by, key, strict=True)), **sums} for key, sums in sorted(buckets.items())]
        own = f"tag:{tag}" if tag is not None else "end_user"
        if tag is not None or ("end_user" in by and "end_user" not in filters):
            out = [r for r in out if r[own] or any(r[f] for f in FIELDS)]
        return out

    async def _with_tag(
        self, account_id: str, span: tuple[date, date], tag: str, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The tag's values' rows, then the whole as value '' less them."""
        tagged = await self._tag_grain(account_id, span, tag)
        less = [{**r, "tag_value": "", **{f: -int(r[f]) for f in FIELDS}} for r in tagged]
        return tagged + [{**r, "tag_value": ""} for r in rows] + less

    async def _tag_grain(
        self, account_id: str, span: tuple[date, date], tag: str
    ) -> list[dict[str, Any]]:
        """The account's debits carrying the tag, per day, model, key, meter and value."""
        sums = ", ".join(f"sum({f}) AS {f}" for f in FIELDS)
        db = self.client.settings.database
        return await self.client.select(
            f"SELECT toString(toDate(hour)) AS day, model, key_id, meter, tag_value, {sums}"
            f" FROM {db}.usage_tag_hourly WHERE account_id = {literal(account_id)}"
            f" AND tag_name = {literal(tag)} AND kind = 'debit'{_during(span)}"
            " GROUP BY day, model, key_id, meter, tag_value",
            timeout_s=self.client.settings.read_timeout_s,
        )

    async def _grain(
        self, account_id: str, start: date, end: date, per_user: bool
    ) -> list[dict[str, Any]]:
        """The account's debits summed per day, model, key, meter (and end user)."""
        grain = "day, model, key_id, meter" + (", end_user" if per_user else "")
        sums = ", ".join(f"sum({f}) AS {f}" for f in FIELDS)
        db = self.client.settings.database
        user = "end_user" if per_user else "'' AS end_user"
        return await self.client.select(
            f"SELECT toString(toDate(hour)) AS day, model, key_id, meter, {user}, {sums}"
            f" FROM {db}.usage_hourly WHERE account_id = {literal(account_id)}"
            f" AND kind = 'debit'{_during((start, end))} GROUP BY {grain}",
            timeout_s=self.client.settings.read_timeout_s,
        )


def _during(span: tuple[date, date]) -> str:
    start, end = (literal(d.isoformat()) for d in span)
    return f" AND hour >= toDateTime({start}, 'UTC') AND hour < toDateTime({end}, 'UTC')"
