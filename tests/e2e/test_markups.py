"""Markups for resellers, through the gateway with the official SDK and the fake provider:
the debit is the provider cost marked up (one upward rounding), the ledger keeps both and
the rate card's version, an account's own markup beats its plan's, and the ledger still
sums to every balance. An account's markup changes as a reviewed price change: pending
until approved, never in force before its effective time, and a call admitted before it
is charged the markup it was admitted with."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from billing.metering.usage import Usage
from gateway.http.appkeys import PRICE_DESK
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.factories import (
    FAST_REVIEW,
    approve,
    balance,
    debits,
    openai_client,
    price,
    propose_markup,
    reviewed_markup,
    tenant,
    until_effective,
    usage_stream,
)
from tests.support.harness import ADMIN_KEY, Gateway, config_dir_with, running_gateway
from tests.support.invariants import check_invariants

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
RESELLER = """
[plans.reseller]
mode = "prepaid"
markup_bps = 2000
"""


@pytest.fixture
async def rgw(dsn: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway whose plans add `reseller`, +20 % over provider cost."""
    config_dir_with(tmp_path, plans=RESELLER)
    async with running_gateway(dsn, None, MW_CONFIG_DIR=str(tmp_path), **FAST_REVIEW) as gateway:
        yield gateway
        await gateway.settle_all()


async def _call(gw: Gateway, key: str) -> str:
    gw.control.usage = USAGE
    async with openai_client(gw, key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=600
        )
    return raw.headers["x-meterway-cost-micros"]


async def test_a_plan_with_a_2000_bps_markup_bills_540_for_450(rgw: Gateway) -> None:
    t = await tenant(rgw, credit=1_000_000, plan="reseller")
    # gpt-4o-mini: 1000 x $0.15/M + 500 x $0.60/M = 450 micros from the provider, +20 %.
    assert await _call(rgw, t.key) == "540"
    [row] = await debits(rgw, t.account_id)
    assert row["amount_micros"] == -540 and row["charged_micros"] == 540
    assert row["provider_cost_micros"] == 450
    priced = price(rgw, "gpt-4o-mini").price(Usage(input_tokens=1000, output_tokens=500))
    assert row["price_version"] == priced.version != ""
    assert await balance(rgw, t.account_id) == 1_000_000 - 540
    card = await rgw.stores().price_versions().card(row["price_version"])
    assert card is not None and card["model"] == "gpt-4o-mini"
    await check_invariants(rgw.stores(), [t.account_id])
    # The operator's usage report: gross margin per model, and in total.
    report = f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=model"
    status, body = await rgw.admin("GET", report)
    assert status == 200, body
    [model] = body["data"]
    assert (model["model"], model["spend_micros"], model["provider_cost_micros"]) == (
        "gpt-4o-mini", 540, 450,
    )  # fmt: skip
    assert model["gross_margin_micros"] == body["totals"]["gross_margin_micros"] == 90
    async with rgw.http.get(
        rgw.url + report + "&format=csv", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        [line] = list(csv.DictReader(io.StringIO(await r.text())))
    assert (line["provider_cost_micros"], line["gross_margin_micros"]) == ("450", "90")


async def test_an_account_markup_beats_its_plan_and_clears_back_to_it(rgw: Gateway) -> None:
    t = await tenant(rgw, credit=1_000_000, plan="reseller")
    path = f"/admin/v1/accounts/{t.account_id}/markup"
    await reviewed_markup(rgw, t.account_id, 500)
    status, body = await rgw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    assert status == 200 and body["markup_bps"] == 500
    assert await _call(rgw, t.key) == "473"  # 450 x 1.05 = 472.5, rounded up once
    await reviewed_markup(rgw, t.account_id, None)
    assert await _call(rgw, t.key) == "540"
    await rgw.app[PRICE_DESK].fold_markups()  # the clock's step, whichever process runs it
    status, body = await rgw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    assert status == 200 and body["markup_bps"] is None
    rows = await debits(rgw, t.account_id)
    assert sorted((r["provider_cost_micros"], r["charged_micros"]) for r in rows) == [
        (450, 473),
        (450, 540),
    ]
    for bad in (-1, 1.5, "20", True):
        status, body = await rgw.admin("PUT", path, {"markup_bps": bad})
        assert status == 400 and body["error"]["param"] == "markup_bps", body
    await check_invariants(rgw.stores(), [t.account_id])


async def test_a_plan_change_keeps_the_account_markup(rgw: Gateway) -> None:
    t = await tenant(rgw, credit=1_000_000, plan="pro")
    assert await _call(rgw, t.key) == "450"  # pro has no markup
    path = f"/admin/v1/accounts/{t.account_id}"
    await reviewed_markup(rgw, t.account_id, 1000)
    assert (await rgw.admin("PUT", path + "/plan", {"plan": "starter"}))[0] == 200
    assert await _call(rgw, t.key) == "495"
    await rgw.settle_all()
    await check_invariants(rgw.stores(), [t.account_id])


async def test_a_background_response_is_charged_its_markup(rgw: Gateway) -> None:
    """Settled long after its request (here when retrieved finished), from the record of
    its owner, which keeps the markup it was admitted with."""
    t = await tenant(rgw, credit=1_000_000, plan="reseller")
    rgw.control.usage = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    rgw.control.background_s = 0.3
    async with openai_client(rgw, t.key) as client:
        created = await client.responses.create(
            model="gpt-4o-mini", input="later", background=True, max_output_tokens=600
        )
        for _ in range(100):
            got = await client.responses.retrieve(created.id)
            if got.status == "completed":
                break
            await asyncio.sleep(0.05)
    [row] = await debits(rgw, t.account_id)
    assert (row["provider_cost_micros"], row["charged_micros"]) == (450, 540)
    await check_invariants(rgw.stores(), [t.account_id])


async def test_a_markup_change_waits_for_approval_and_its_time_and_never_reaches_back(
    rgw: Gateway,
) -> None:
    """Proposed, the markup is not charged; approved, not before its effective time; a call
    admitted before that time and settled after it is charged the markup it was admitted
    with; from the time on, the new one, as the preview said. A time in the past or inside
    the lead is refused, when proposed and when approved."""
    t = await tenant(rgw, credit=1_000_000, plan="reseller")
    assert await _call(rgw, t.key) == "540"
    await rgw.settle_all()  # the preview re-prices the ledger's debits
    change = await propose_markup(rgw, t.account_id, 5000, ahead_s=3.0)
    assert change["status"] == "pending" and change["models"] == {}
    assert change["markup"] == {"account_id": t.account_id, "markup_bps": 5000}
    assert change["diff"] == [f"{t.account_id} markup: 2000 bps (its plan's) -> 5000 bps"]
    [moved] = change["preview"]["accounts"]
    # 450 micros of provider cost: 540 at +20 %, 675 at +50 %, a 25 % move.
    assert (moved["before_micros"], moved["after_micros"]) == (540, 675)
    assert change["largest_move_percent"] == "25.0%"
    assert await _call(rgw, t.key) == "540"  # pending: nothing changes
    path = f"/admin/v1/prices/changes/{change['id']}/approve"
    status, body = await rgw.admin("POST", path, {})
    assert status == 400 and body["error"]["code"] == "confirmation_required", body
    await approve(rgw, change)
    assert await _call(rgw, t.key) == "540"  # approved, ahead of its time
    # Admitted before the time, answered after it: its hold's markup is the one charged.
    in_flight = asyncio.create_task(_slow_stream(rgw, t.key, _left(change) + 0.4))
    await until_effective(change)
    assert not in_flight.done()
    assert await _call(rgw, t.key) == "675"
    await in_flight
    await rgw.settle_all()
    charged = sorted(r["charged_micros"] for r in await debits(rgw, t.account_id))
    assert charged == [540, 540, 540, 540, 675]
    for when in ("2020-01-01T00:00:00+00:00", datetime.now(UTC).isoformat()):
        body = {"markup_bps": 100, "effective_at": when}
        status, got = await rgw.admin("PUT", f"/admin/v1/accounts/{t.account_id}/markup", body)
        assert status == 400 and got["error"]["code"] == "effective_time_too_soon", got
    late = await propose_markup(rgw, t.account_id, 100, ahead_s=1.2)
    await asyncio.sleep(0.5)  # now closer to its time than the 1 s lead
    path = f"/admin/v1/prices/changes/{late['id']}/approve"
    status, got = await rgw.admin("POST", path, {"confirm": late["largest_move_percent"]})
    assert status == 409 and got["error"]["code"] == "price_change_too_late", got
    assert await _call(rgw, t.key) == "675"
    await rgw.settle_all()
    await check_invariants(rgw.stores(), [t.account_id])


async def _slow_stream(gw: Gateway, key: str, seconds: float) -> None:
    """The same usage as `_call`, streamed over `seconds`."""
    slow = {"usage": {"prompt_tokens": 1000, "completion_tokens": 500}, "chunks": 4}
    slow["chunk_delay_s"] = seconds / 4
    async with openai_client(gw, key) as client:
        await usage_stream(
            client, "gpt-4o-mini", [{"role": "user", "content": "slow"}], max_tokens=600,
            extra_headers={"x-fake-behaviour": json.dumps(slow)},
        )  # fmt: skip


def _left(change: dict[str, object]) -> float:
    return datetime.fromisoformat(str(change["effective_at"])).timestamp() - time.time()


async def test_one_markup_change_is_scheduled_per_account_at_a_time(rgw: Gateway) -> None:
    """A second markup change approved while the first waits for its time is refused (409),
    and approved once the first is in force."""
    t = await tenant(rgw, credit=1_000_000, plan="pro")
    first = await approve(rgw, await propose_markup(rgw, t.account_id, 1000, ahead_s=2.0))
    second = await propose_markup(rgw, t.account_id, 3000, ahead_s=4.0)
    path = f"/admin/v1/prices/changes/{second['id']}/approve"
    status, body = await rgw.admin("POST", path, {"confirm": second["largest_move_percent"]})
    assert status == 409 and body["error"]["code"] == "markup_change_scheduled", body
    status, body = await rgw.admin("GET", f"/admin/v1/prices/changes/{second['id']}")
    assert body["status"] == "pending"
    await until_effective(first)
    assert await _call(rgw, t.key) == "495"
    await approve(rgw, second)
    await until_effective(second)
    assert await _call(rgw, t.key) == "585"
    await rgw.settle_all()
    await check_invariants(rgw.stores(), [t.account_id])


async def test_the_cli_proposes_a_markup_change_and_says_it_waits(
    rgw: Gateway, tmp_path: Path
) -> None:
    t = await tenant(rgw, credit=1_000_000, plan="pro")
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(
        rgw, tmp_path, "admin", "markup", t.account_id, "1500", "--effective-at", "+2d"
    )
    assert run.code == 0 and "pending approval" in run.out and "markup 1500 bps" in run.out, run
    status, body = await rgw.admin("GET", "/admin/v1/prices/changes?status=pending")
    assert status == 200, body
    [mine] = [c for c in body["data"] if (c["markup"] or {}).get("account_id") == t.account_id]
    assert mine["markup"]["markup_bps"] == 1500 and f"price change {mine['id']}" in run.out
    assert await _call(rgw, t.key) == "450"  # pending: the plan's markup (none) still bills
