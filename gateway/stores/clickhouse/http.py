"""ClickHouse's HTTP interface: a statement in the `query` parameter, rows in the body
(`FORMAT JSONEachRow`), the answer in the format the statement names. Any failure, whether
the network's or ClickHouse's own (an `X-ClickHouse-Exception-Code`, a non-200 status), is
AnalyticsUnavailable (AnalyticsMissing where the database or a table does not exist): the
copy retries and nothing else waits on it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import orjson

from gateway.config.analytics import AnalyticsSettings
from gateway.scrubbing import kept, url_secrets
from gateway.stores.errors import AnalyticsMissing, AnalyticsUnavailable

_MISSING = ("60", "81")  # UNKNOWN_TABLE, UNKNOWN_DATABASE


class ClickHouseHttp:
    """One ClickHouse server (or a load balancer in front of several) over HTTP."""

    def __init__(self, settings: AnalyticsSettings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.session = session
        self.headers = {"X-ClickHouse-User": settings.user or "default"}
        if settings.password:
            self.headers["X-ClickHouse-Key"] = settings.password
        self._secrets = (settings.password, *url_secrets(settings.url))

    async def _post(
        self, query: str, body: bytes = b"", *, in_database: bool = True, timeout_s: float = 0,
        whole: bool = False,
    ) -> bytes:  # fmt: skip
        params = {"query": query}
        if whole:  # the server holds the answer until the query ends: an error gets its status
            params["wait_end_of_query"] = "1"
        if in_database:  # the server sets it before parsing: it must exist (Code 81)
            params["database"] = self.settings.database
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.settings.timeout_s)
        try:
            async with self.session.post(
                self.settings.url + "/", params=params, data=body, headers=self.headers,
                timeout=timeout,
            ) as r:  # fmt: skip
                answer = await r.read()
                code = r.headers.get("X-ClickHouse-Exception-Code")
                if r.status != 200 or code is not None:
                    text = kept(answer.decode(errors="replace"), self._secrets, 500)
                    error = AnalyticsMissing if code in _MISSING else AnalyticsUnavailable
                    raise error(f"ClickHouse answered {r.status}: {text}")
                return answer
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            said = kept(str(exc), self._secrets)
            raise AnalyticsUnavailable(f"ClickHouse unreachable: {said}") from exc

    async def execute(self, statement: str, *, in_database: bool = True) -> None:
        """A statement with no rows back (DDL); `in_database=False` sends it with no current
        database, as one that makes the database must go."""
        await self._post(statement, in_database=in_database)

    async def select(self, query: str, *, timeout_s: float = 0) -> list[dict[str, Any]]:
        """Rows of a SELECT, as dicts (the query must not name a FORMAT: JSONEachRow is);
        within `timeout_s` when given (a report's read), else the client's timeout."""
        answer = await self._post(query + " FORMAT JSONEachRow", timeout_s=timeout_s, whole=True)
        try:
            return [orjson.loads(line) for line in answer.splitlines() if line.strip()]
        except orjson.JSONDecodeError as exc:  # an answer cut short: never a partial result
            raise AnalyticsUnavailable(f"ClickHouse answered no rows: {exc}") from exc

    async def insert(self, table: str, rows: Iterable[Mapping[str, Any]], token: str) -> None:
        """Rows into `table` as one block, deduplicated by `token`: the same token sent again
        (a batch whose acknowledgement was lost) is dropped by ClickHouse, in the table and
        in the materialized views it feeds."""
        statement = (
            f"INSERT INTO {table} SETTINGS insert_deduplication_token = '{token}',"
            " deduplicate_blocks_in_dependent_materialized_views = 1 FORMAT JSONEachRow"
        )
        body = b"\n".join(orjson.dumps(dict(row)) for row in rows)
        await self._post(statement, body)
