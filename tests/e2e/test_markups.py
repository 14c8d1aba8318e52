"""Markups for resellers, through the gateway with the official SDK and the fake provider:
the debit is the provider cost marked up (one upward rounding), the ledger keeps both and
the rate card's version, an account's own markup beats its plan's, and the ledger still
sums to every balance."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billing.usage import Usage
from tests.support.factories import balance, debits, openai_client, price, tenant
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
    async with running_gateway(dsn, MW_CONFIG_DIR=str(tmp_path)) as gateway:
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
    status, body = await rgw.admin("PUT", path, {"markup_bps": 500})
    assert status == 200 and body["markup_bps"] == 500
    assert await _call(rgw, t.key) == "473"  # 450 x 1.05 = 472.5, rounded up once
    status, body = await rgw.admin("PUT", path, {"markup_bps": None})
    assert status == 200 and body["markup_bps"] is None
    assert await _call(rgw, t.key) == "540"
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
    assert (await rgw.admin("PUT", path + "/markup", {"markup_bps": 1000}))[0] == 200
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
