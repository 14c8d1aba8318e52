"""The test double answers as clickhouse-server's HTTP interface does, for every kind of
request Meterway sends. Each test names where the server's behaviour is written down:

- HTTP interface, "Default database": the current database is the `database` parameter or
  the `X-ClickHouse-Database` header, else `default`; set per request.
- src/Server/HTTPHandler.cpp sets it (`setCurrentDatabase`) before the query is parsed, so
  a missing one is Code 81 UNKNOWN_DATABASE even for `CREATE DATABASE` (issue 70).
- src/Server/HTTP/exceptionCodeToHTTPStatus.cpp: UNKNOWN_DATABASE and UNKNOWN_TABLE are
  404, SYNTAX_ERROR 400, the rest 500; the code is in `X-ClickHouse-Exception-Code`.
- HTTP interface, "Querying": a result with no FORMAT clause is TabSeparated; an INSERT's
  data is the POST body after the `query` parameter's text.
- HTTP interface, "Response buffering": with `wait_end_of_query=1` the server holds the
  answer until the query ends, so an error after the first rows still gets its status;
  a URL parameter the handler does not read is a setting, an unknown one Code 115.
- Settings, `insert_deduplication_token`: a block inserted again under the same token is
  dropped (non-replicated tables with `non_replicated_deduplication_window`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.config.analytics import AnalyticsSettings
from gateway.stores.clickhouse.analytics import ClickHouseAnalytics
from gateway.stores.clickhouse.http import ClickHouseHttp
from tests.support.fakes.clickhouse import FakeClickHouse, running_clickhouse

Answer = tuple[int, str, str | None]


@pytest.fixture
async def ch(tmp_path: Path) -> AsyncIterator[FakeClickHouse]:
    async with running_clickhouse(tmp_path) as fake:
        yield fake


async def _post(
    ch: FakeClickHouse, query: str, body: bytes = b"", header: str = "", **params: str
) -> Answer:
    headers = {"X-ClickHouse-Database": header} if header else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(ch.url + "/", params={"query": query, **params}, data=body, headers=headers) as r,
    ):
        return r.status, await r.text(), r.headers.get("X-ClickHouse-Exception-Code")


async def test_a_missing_current_database_is_code_81_even_to_create_it(
    ch: FakeClickHouse,
) -> None:
    status, text, code = await _post(ch, "CREATE DATABASE IF NOT EXISTS fresh", database="fresh")
    assert (status, code) == (404, "81") and "UNKNOWN_DATABASE" in text
    status, text, code = await _post(ch, "SELECT 1", header="fresh")
    assert (status, code) == (404, "81")
    assert (await _post(ch, "CREATE DATABASE IF NOT EXISTS fresh"))[:1] == (200,)
    assert await _post(ch, "SELECT currentDatabase()", database="fresh") == (200, "fresh\n", None)


async def test_the_current_database_is_per_request_and_default_without_one(
    ch: FakeClickHouse,
) -> None:
    await _post(ch, "CREATE DATABASE other")
    assert (await _post(ch, "SELECT currentDatabase()", database="other"))[1] == "other\n"
    assert (await _post(ch, "SELECT currentDatabase()"))[1] == "default\n"


async def test_errors_carry_their_code_and_the_servers_status(ch: FakeClickHouse) -> None:
    status, _, code = await _post(ch, "SELEC 1")
    assert (status, code) == (400, "62")
    status, _, code = await _post(ch, "SELECT * FROM default.nosuch")
    assert (status, code) == (404, "60")
    status, _, code = await _post(ch, "SELECT throwIf(1, 'boom')")
    assert status == 500 and code is not None and code not in ("60", "62", "81")


async def test_formats_and_an_inserts_body(ch: FakeClickHouse) -> None:
    assert (await _post(ch, "SELECT 1 AS a, 'x' AS b"))[1] == "1\tx\n"
    assert (await _post(ch, "SELECT 1 AS a FORMAT JSONEachRow"))[1] == '{"a":1}\n'
    await _post(ch, "CREATE TABLE default.t (a Int64) ENGINE = MergeTree ORDER BY a"
                " SETTINGS non_replicated_deduplication_window = 10")  # fmt: skip
    insert = "INSERT INTO default.t SETTINGS insert_deduplication_token = 'k' FORMAT JSONEachRow"
    for _ in range(2):
        assert (await _post(ch, insert, b'{"a": 1}\n{"a": 2}'))[0] == 200
    assert ch.scalar("SELECT count() FROM default.t") == "2"  # the repeat was dropped


async def test_the_failure_modes_answer_as_a_server_would(ch: FakeClickHouse) -> None:
    ch.read_only = True
    status, _, code = await _post(ch, "INSERT INTO default.x FORMAT JSONEachRow", b"{}")
    assert (status, code) == (500, "164")
    assert (await _post(ch, "SELECT 1"))[0] == 200
    ch.read_only, ch.down = False, True
    assert (await _post(ch, "SELECT 1"))[0] == 503
    ch.down = False
    await _post(ch, "CREATE DATABASE gone")
    ch.replace()
    assert (await _post(ch, "SELECT 1", database="gone"))[2] == "81"


async def test_an_unknown_url_parameter_is_an_unknown_setting(ch: FakeClickHouse) -> None:
    status, _, code = await _post(ch, "SELECT 1", no_such_thing="1")
    assert (status, code) == (404, "115")
    assert (await _post(ch, "SELECT 1", wait_end_of_query="1"))[0] == 200


async def test_meterways_requests_as_the_server_expects_them(ch: FakeClickHouse) -> None:
    """The database made with no current database, every read held whole, on a fresh
    server: the first prepare succeeds."""
    async with aiohttp.ClientSession() as http:
        store = ClickHouseAnalytics(ClickHouseHttp(AnalyticsSettings(url=ch.url), http))
        await store.prepare()
        await store.identity()
    create, *rest = ch.params
    assert create["query"].startswith("CREATE DATABASE") and "database" not in create
    assert all(p["database"] == "meterway" for p in rest)
    reads = [p for p in rest if p["query"].startswith("SELECT")]
    assert reads and all(p.get("wait_end_of_query") == "1" for p in reads)
