"""No unreviewed plan markup at start (PRICE_CHANGES_AT_START=review): a restart whose
config/plans.toml moves a plan's markup keeps charging the approved markup (to the plan's
accounts and to those opened on it after), files the move once as a pending change proposed
by `config` (its diff, and its preview: every account following the plan's markup, its last
calls re-priced), and charges the new markup only once that change is approved and its
effective time has come, by reserve.lua's clock: a call admitted before is charged the
markup it was admitted with; an account with a markup of its own keeps it.

Each test has a database of its own: the approved markups are the database's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from billing.money.plans import load_plans
from gateway.http.appkeys import PLANS
from gateway.ops.rebuild import approved_plan_markups, rebuild, sync_plans
from tests.e2e.test_prices_at_start import cost
from tests.support.factories import (
    FAST_REVIEW,
    approve,
    debits,
    openai_client,
    propose_markup,
    reviewed_markup,
    tenant,
)
from tests.support.harness import Gateway, config_dir_with, running_gateway, temp_database
from tests.support.invariants import check_invariants

DAY_MS = 86_400_000
HOUSE = """
[models."house-chat"]
provider = "openai"
max_output_tokens = 4096
input = "1.00"
output = "2.00"
"""
RESALE = """
[plans.resale]
mode = "prepaid"
markup_bps = {bps}
"""
# 1000 tokens in at $1/M and 500 out at $2/M: 2000 micros of provider cost.
AT_10, AT_15, OWN_5 = 2200, 2300, 2100


def _config(path: Path, bps: int) -> Path:
    path.mkdir(exist_ok=True)
    return config_dir_with(path, pricing=HOUSE, plans=RESALE.format(bps=bps))


@asynccontextmanager
async def gateway(dsn: str, path: Path, bps: int) -> AsyncIterator[Gateway]:
    """A gateway reviewing its prices at start, plan `resale` marked up by `bps`, its Redis
    restored from the ledger as a restart's would be (the hot records from its plan book)."""
    config = _config(path, bps)
    env = {**FAST_REVIEW, "PRICE_CHANGES_AT_START": "review"}
    async with running_gateway(dsn, None, MW_CONFIG_DIR=str(config), **env) as gw:
        await rebuild(gw.stores(), gw.app[PLANS], force=True)
        yield gw
        await gw.settle_all()


async def slow_call(gw: Gateway, key: str, admitted: asyncio.Event) -> None:
    """The same usage as `cost`, streamed slowly; `admitted` is set at its first chunk."""
    slow = {"usage": {"prompt_tokens": 1000, "completion_tokens": 500}, "chunks": 4}
    slow["chunk_delay_s"] = 0.3
    async with openai_client(gw, key) as client:
        stream = await client.chat.completions.create(
            model="house-chat", messages=[{"role": "user", "content": "slow"}], max_tokens=600,
            stream=True, stream_options={"include_usage": True},
            extra_headers={"x-fake-behaviour": json.dumps(slow)},
        )  # fmt: skip
        async for _ in stream:
            admitted.set()


async def changes(gw: Gateway, status: str) -> list[dict[str, Any]]:
    code, body = await gw.admin("GET", f"/admin/v1/prices/changes?status={status}")
    assert code == 200, body
    return list(body["data"])


async def test_a_restart_with_an_edited_plan_markup_charges_the_approved_one_until_reviewed(
    tmp_path: Path,
) -> None:
    async with temp_database() as dsn:
        async with gateway(dsn, tmp_path / "first", 1000) as gw:
            t = await tenant(gw, plan="resale")
            own = await tenant(gw, plan="resale")
            await reviewed_markup(gw, own.account_id, 500)
            assert await cost(gw, t.key) == AT_10  # the baseline
            assert await cost(gw, own.key) == OWN_5
            assert await changes(gw, "pending") == []
        async with gateway(dsn, tmp_path / "edited", 1500) as gw:
            assert await cost(gw, t.key) == AT_10  # the approved markup, not the file's
            later = await tenant(gw, plan="resale")  # opened after the restart
            assert await cost(gw, later.key) == AT_10
            [change] = await changes(gw, "pending")
            assert change["proposed_by"] == "config" and change["models"] == {}
            assert change["plan_markup"] == {"plan": "resale", "markup_bps": 1500}
            assert change["diff"] == ["plan resale markup: 1000 bps -> 1500 bps"]
            # Accounts following the plan's markup, their last calls re-priced; not `own`.
            moved = {a["account_id"]: a for a in change["preview"]["accounts"]}
            assert moved.keys() == {t.account_id}
            assert (moved[t.account_id]["before_micros"], moved[t.account_id]["after_micros"]) == (
                AT_10,
                AT_15,
            )
            await approve(gw, change)
            assert await cost(gw, t.key) == AT_10  # approved, ahead of its time
            # One scheduled markup per account, its plan's included.
            await _refused(gw, await propose_markup(gw, later.account_id, 500, ahead_s=60))
            late = await tenant(gw, plan="resale")  # opened between approval and its time
            assert await cost(gw, late.key) == AT_10
            admitted = asyncio.Event()
            in_flight = asyncio.create_task(slow_call(gw, t.key, admitted))
            await admitted.wait()
            await gw.advance_clock(DAY_MS + 60_000)  # the gateways' clock: past its time
            for account in (t, later, late):
                assert await cost(gw, account.key) == AT_15
            assert await cost(gw, own.key) == OWN_5  # its own markup stays
            await in_flight
            charged = sorted(r["charged_micros"] for r in await debits(gw, t.account_id))
            assert charged == [AT_10, AT_10, AT_10, AT_10, AT_15]  # the stream: admitted before
            await check_invariants(gw.stores(), [t.account_id, later.account_id, own.account_id])
        async with gateway(dsn, tmp_path / "again", 1500) as gw:
            pending = [c for c in await changes(gw, "pending") if c["plan_markup"]]
            assert pending == []  # the same markup: no second change
            approved = [c["id"] for c in await changes(gw, "approved") if c["plan_markup"]]
            assert approved == [change["id"]]
            t = await tenant(gw, plan="resale")
            assert await cost(gw, t.key) == AT_10  # approved, not in force by this clock
            await gw.advance_clock(DAY_MS + 60_000)
            assert await cost(gw, t.key) == AT_15


async def test_a_plan_markup_change_waits_while_an_account_following_it_has_its_own(
    tmp_path: Path,
) -> None:
    """Approving a plan's markup change is refused (409), naming the accounts, while an
    account following the plan's markup has its own markup change scheduled."""
    async with temp_database() as dsn:
        async with gateway(dsn, tmp_path / "first", 1000) as gw:
            await tenant(gw, plan="resale")
        async with gateway(dsn, tmp_path / "edited", 1500) as gw:
            t = await tenant(gw, plan="resale")
            own = await approve(gw, await propose_markup(gw, t.account_id, 500, ahead_s=60))
            [change] = await changes(gw, "pending")
            assert t.account_id in await _refused(gw, change)
            assert [c["id"] for c in await changes(gw, "pending")] == [change["id"]]
            assert own["status"] == "approved"


async def test_sync_plans_charges_the_approved_plan_markup(tmp_path: Path) -> None:
    """`meterway sync-plans` with an edited plans.toml writes the approved markup to the hot
    records and names the plan whose loaded markup waits for its review."""
    async with temp_database() as dsn, gateway(dsn, tmp_path / "first", 1000) as gw:
        t = await tenant(gw, plan="resale")
        book = load_plans(_config(tmp_path / "edited", 1500) / "plans.toml")
        [line] = await approved_plan_markups(gw.stores(), book)
        assert line.startswith("plan resale: plans.toml says 1500 bps; the approved 1000")
        resale = book.get("resale")
        assert resale is not None and resale.markup_bps == 1000
        assert await sync_plans(gw.stores(), book) >= 1
        assert await cost(gw, t.key) == AT_10


async def _refused(gw: Gateway, change: dict[str, Any]) -> str:
    """The message of an approval refused with 409 markup_change_scheduled."""
    path = f"/admin/v1/prices/changes/{change['id']}/approve"
    status, body = await gw.admin("POST", path, {"confirm": change["largest_move_percent"]})
    assert status == 409 and body["error"]["code"] == "markup_change_scheduled", body
    return str(body["error"]["message"])
