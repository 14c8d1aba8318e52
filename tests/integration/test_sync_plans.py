"""Editing a plan's limits in config reaches live accounts with `meterway sync-plans`."""

from __future__ import annotations

from dataclasses import replace

from billing.money.quotas import Quota
from gateway.http.appkeys import PLANS
from gateway.ops.rebuild import sync_plans
from tests.support.factories import balance, tenant
from tests.support.harness import Gateway


async def test_sync_plans_applies_new_limits_and_keeps_balances(gw: Gateway) -> None:
    t = await tenant(gw, credit=5_000_000, plan="starter")
    book = gw.app[PLANS]
    starter = book.plans["starter"]
    edited = replace(starter, quotas=(Quota("day", "requests", 7),))
    new_book = replace(book, plans={**book.plans, "starter": edited})
    assert await sync_plans(gw.stores(), new_book) >= 1
    status, usage = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/usage")
    assert status == 200
    assert [(w["window"], w["metric"], w["limit"]) for w in usage["windows"]] == [
        ("day", "requests", 7)
    ]
    assert await balance(gw, t.account_id) == 5_000_000
