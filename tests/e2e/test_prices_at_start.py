"""No unreviewed card at start (PRICE_CHANGES_AT_START=review): a restart with an edited
pricing.toml keeps billing the approved price, files the move as a pending change proposed
by `config` (its diff and its preview of the last calls), and bills the new price only once
that change is approved and its effective time has come; a restart while it waits files no
second change. The first start on a database takes its loaded card as the approved one.

Each test has a database of its own: the approved card is the database's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.factories import FAST_REVIEW, approve, openai_client, tenant
from tests.support.harness import Gateway, config_dir_with, running_gateway, temp_database

DAY_MS = 86_400_000
HOUSE = """
[models."house-chat"]
provider = "openai"
max_output_tokens = 4096
input = "{input}"
output = "2.00"
"""
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


def _config(path: Path, input_rate: str) -> Path:
    path.mkdir(exist_ok=True)
    return config_dir_with(path, pricing=HOUSE.format(input=input_rate))


@asynccontextmanager
async def gateway(dsn: str, path: Path, input_rate: str) -> AsyncIterator[Gateway]:
    """A gateway reviewing its prices at start, pricing house-chat's input at `input_rate`."""
    config = _config(path, input_rate)
    env = {**FAST_REVIEW, "PRICE_CHANGES_AT_START": "review"}
    async with running_gateway(dsn, None, MW_CONFIG_DIR=str(config), **env) as gw:
        yield gw
        await gw.settle_all()


async def cost(gw: Gateway, key: str) -> int:
    """What a call of 1000 tokens in and 500 out is charged, in micros."""
    gw.control.usage = USAGE
    async with openai_client(gw, key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="house-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=600
        )
    return int(raw.headers["x-meterway-cost-micros"])


async def changes(gw: Gateway, status: str) -> list[dict[str, Any]]:
    code, body = await gw.admin("GET", f"/admin/v1/prices/changes?status={status}")
    assert code == 200, body
    return list(body["data"])


async def test_a_restart_with_an_edited_pricing_toml_bills_the_approved_price_until_reviewed(
    tmp_path: Path,
) -> None:
    async with temp_database() as dsn:
        async with gateway(dsn, tmp_path / "first", "1.00") as gw:
            t = await tenant(gw)
            assert await cost(gw, t.key) == 2000  # 1000 x $1/M + 500 x $2/M: the baseline
            assert await changes(gw, "pending") == []
        async with gateway(dsn, tmp_path / "edited", "3.00") as gw:
            t = await tenant(gw)
            assert await cost(gw, t.key) == 2000  # the approved price, not the file's
            [change] = await changes(gw, "pending")
            assert change["proposed_by"] == "config"
            [(name, rates)] = change["models"].items()
            assert (name, rates["input"], rates["output"]) == ("house-chat", "3.000000", "2.000000")
            assert any("house-chat" in line and "input" in line for line in change["diff"])
            total = change["preview"]["total"]
            assert (total["before_micros"], total["after_micros"]) == (2000, 4000)
            await gw.advance_clock(DAY_MS + 60_000)  # past its effective time, unapproved
            assert await cost(gw, t.key) == 2000
            await approve(gw, change)
            assert await cost(gw, t.key) == 4000  # approved, and its time has come
        async with gateway(dsn, tmp_path / "again", "3.00") as gw:
            t = await tenant(gw)
            assert await changes(gw, "pending") == []  # the same cards: no second change
            [approved] = await changes(gw, "approved")
            assert approved["id"] == change["id"]
            assert await cost(gw, t.key) == 2000  # approved, not in force yet
            await gw.advance_clock(DAY_MS + 60_000)
            assert await cost(gw, t.key) == 4000


async def test_a_start_with_the_approved_prices_files_nothing(tmp_path: Path) -> None:
    async with temp_database() as dsn:
        for n in range(2):
            async with gateway(dsn, tmp_path / str(n), "1.00") as gw:
                t = await tenant(gw)
                assert await cost(gw, t.key) == 2000
                assert await changes(gw, "pending") == []
