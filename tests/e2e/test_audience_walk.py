"""The audience walk: with a 20%-off price book and a markup in force, every customer route
and every export format reads none of the operator's money (billing/audience.py).

The routes are read off the app (`declared`): every GET of the account surface, the account
API with the customer's key and the dashboard with a session signed in with it, each once
plain and once per value of each enumerated query parameter its OpenAPI operation declares
(`format`: JSON, CSV, Parquet; `group_by`...). A customer route added tomorrow is walked
tomorrow. No answer may name an operator-only field nor carry one of its figures: the
provider's cost of the call, the list cost of each of its FOCUS rows, the margin."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from billing.audience import OPERATOR_ONLY
from billing.contracts.statements import month_of
from billing.money.micros import format_usd
from billing.usage.focus import micros_of
from gateway.http.routing import declared, operation
from gateway.services.proof.signing_keys import new_seed, unb64url
from tests.e2e.test_roles import member_session, token
from tests.support.billing_client import SUCCEEDS
from tests.support.dashboard_client import signed_in
from tests.support.factories import openai_client, reviewed_markup
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.focus_validator import failed_rules
from tests.support.harness import Gateway, config_dir_with, running_gateway, temp_database

HOUSE = """
[models."walk-4o"]
provider = "openai"
max_output_tokens = 4096
input = "2.50"
output = "10.00"
"""
PLANS = """
[plans.walk]
mode = "prepaid"
markup_bps = 1000
"""
SCOPES = ["chat", "account:read", "usage:read", "keys:read", "billing:read",
          "statements:read", "ledger:read", "billing:setup"]  # fmt: skip
BOOK = {"rules": [{"family": "walk-4o", "adjust_bps": -2000}], "note": "20% off"}
MONTH = str(month_of(datetime.now(UTC)))


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    config = config_dir_with(tmp_path_factory.mktemp("walk"), pricing=HOUSE, plans=PLANS)
    env = {"MW_CONFIG_DIR": str(config), "PRICE_CHANGE_LEAD_S": "1", "PRICE_CHANGE_POLL_S": "0.2",
           "LEDGER_SIGNING_KEY": new_seed(), **ROLE_CLAIM_ENV}  # fmt: skip  # receipts, people
    async with temp_database() as dsn, running_gateway(dsn, None, **env) as gateway:
        yield gateway


async def _customer(gw: Gateway) -> tuple[str, str]:
    """An account on the marked-up plan with the book assigned, and its key."""
    status, account = await gw.admin("POST", "/admin/v1/accounts", {"name": "walk", "plan": "walk"})
    assert status == 201, account
    aid = account["id"]
    credit = {"amount_micros": 10_000_000, "idempotency_key": "seed", "reason": "test"}
    status, body = await gw.admin("POST", f"/admin/v1/accounts/{aid}/credits", credit)
    assert status == 201, body
    status, key = await gw.admin("POST", "/admin/v1/keys", {"account_id": aid, "name": "walk",
                                                            "scopes": SCOPES})  # fmt: skip
    assert status == 201, key
    effective = datetime.now(UTC) + timedelta(seconds=2)
    change = {"books": {"walk-20": BOOK}, "assign": {"accounts": {aid: "walk-20"}},
              "effective_at": effective.isoformat()}  # fmt: skip
    status, proposed = await gw.admin("POST", "/admin/v1/prices/changes", change)
    assert status == 201, proposed
    path = f"/admin/v1/prices/changes/{proposed['id']}/approve"
    status, done = await gw.admin("POST", path, {"confirm": proposed["largest_move_percent"]})
    assert status == 200, done
    await asyncio.sleep(max(0.0, effective.timestamp() + 0.5 - time.time()))
    await reviewed_markup(gw, aid, 1000)  # its own markup too, as its plan's: in its records
    return aid, key["key"]


async def _call(gw: Gateway, key: str) -> str:
    """The call with the official SDK, settled: its answer (headers and body) as text."""
    bearer = {"Authorization": f"Bearer {key}"}
    url = gw.url + "/v1/account/billing/receipt-header"
    async with gw.http.put(url, json={"enabled": True}, headers=bearer) as r:
        assert r.status == 200, await r.text()  # the answer carries its signed receipt
    usage = {"prompt_tokens": 13_582, "completion_tokens": 791}
    headers = {"x-fake-behaviour": json.dumps({"usage": usage})}
    async with openai_client(gw, key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="walk-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=1000,
            extra_headers=headers,
        )  # fmt: skip
        assert "x-meterway-receipt" in raw.headers, raw.headers
        answer = json.dumps(dict(raw.headers)) + raw.http_response.text
    await gw.settle_all()
    return answer


async def _paid_and_invoiced(gw: Gateway, aid: str, key: str) -> dict[str, str]:
    """A top-up paid through the local provider (its receipt) and the month's invoice issued
    under a commitment (its number): the pages that show them answer 200 in the walk."""
    bearer = {"Authorization": f"Bearer {key}"}
    url = gw.url + "/v1/account/billing/topups"
    async with gw.http.post(url, json={"amount_micros": 5_000_000}, headers=bearer) as r:
        assert r.status in (200, 201), await r.text()
        checkout = (await r.json())["url"]
    async with gw.http.post(checkout, data={"action": "pay", "card": SUCCEEDS}) as r:
        assert r.status == 200 and "succeeded" in await r.text()
    receipt = await gw.stores().pool.fetchval(
        "SELECT id FROM payments WHERE account_id = $1 AND status = 'succeeded'", aid
    )
    terms = {"period": "month", "amount_micros": 1_000_000, "billing": "prepaid",
             "on_exhausted": "balance"}  # fmt: skip  # a prepaid account is invoiced with one
    status, body = await gw.admin("PUT", f"/admin/v1/accounts/{aid}/commitment", terms)
    assert status == 200, body
    details = {"legal_name": "Walk Ltd", "address": ["1 Walk Road"], "country": "GB"}
    status, body = await gw.admin("PUT", f"/admin/v1/accounts/{aid}/invoicing", details)
    assert status == 200, body
    status, invoice = await gw.admin("POST", f"/admin/v1/accounts/{aid}/invoices", {"month": MONTH})
    assert status == 201, invoice
    return {"receipt_id": str(receipt), "number": str(invoice["number"])}


async def _operator_figures(gw: Gateway, aid: str) -> set[int]:
    """The operator's figures of the call, in micros: its provider cost and margin (the
    admin ledger), and every list cost of its FOCUS rows that is not what was billed."""
    status, ledger = await gw.admin("GET", f"/admin/v1/accounts/{aid}/ledger")
    assert status == 200, ledger
    [debit] = [e for e in ledger["data"] if e["kind"] == "debit"]
    charged, provider = debit["charged_micros"], debit["provider_cost_micros"]
    assert provider > charged > 0, debit  # the book and the markup both priced it
    figures = {provider, abs(debit["gross_margin_micros"])}
    url = f"{gw.url}/admin/v1/exports/focus?account_id={aid}&month={MONTH}"
    async with gw.http.get(
        url, headers={"Authorization": f"Bearer {gw.settings.admin_api_key}"}
    ) as r:
        lines = (await r.text()).splitlines()
    for row in csv.DictReader(lines):
        if row["ListCost"] != row["BilledCost"]:
            figures.add(micros_of(row["ListCost"]))
        if row["x_ProviderCost"]:
            figures.add(micros_of(row["x_ProviderCost"]))
    return figures


def _spellings(micros: int) -> list[re.Pattern[str]]:
    """How a figure may be written: 41865, 41,865, 0.041865 (not inside a longer number)."""
    texts = {str(micros), f"{micros:,}", format_usd(micros)}
    return [re.compile(rf"(?<![0-9.,]){re.escape(t)}(?![0-9])") for t in texts]


def _walk(gw: Gateway) -> list[tuple[str, dict[str, str]]]:
    """Every GET of the account surface, plain and once per enumerated query value."""
    calls: list[tuple[str, dict[str, str]]] = []
    for path, route in declared(gw.app):
        if route.method != "GET" or route.action.surface != "account":
            continue
        calls.append((path, {}))
        for param in operation(path, route).get("parameters", []):
            if param.get("in") == "query":
                for value in param.get("schema", {}).get("enum", []):
                    calls.append((path, {param["name"]: str(value)}))
    return calls


JWS = re.compile(r"eyJ[A-Za-z0-9_-]+\.(eyJ[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+")


def _text(body: bytes, content_type: str) -> str:
    """What a customer can read of an answer: a Parquet file's columns and values, and
    the claims of every signed receipt in it besides the text itself."""
    if "parquet" in content_type:
        table = pq.read_table(io.BytesIO(body))
        return json.dumps({"columns": table.column_names, "rows": table.to_pylist()}, default=str)
    return _with_claims(body.decode("utf-8", "replace"))


def _with_claims(text: str) -> str:
    claims = [unb64url(m.group(1)).decode() for m in JWS.finditer(text)]
    return "\n".join([text, *claims])


async def test_no_customer_route_reads_the_operator_s_money(gw: Gateway) -> None:
    aid, key = await _customer(gw)
    answer = _with_claims(await _call(gw, key))
    rid = (await gw.admin("GET", f"/admin/v1/accounts/{aid}/ledger"))[1]["data"][0]["request_id"]
    figures = await _operator_figures(gw, aid)
    params = {"request_id": rid, "month": MONTH, **await _paid_and_invoiced(gw, aid, key)}
    names = [re.compile(rf"\b{re.escape(n)}\b") for n in sorted(OPERATOR_ONLY)]
    spelled = [p for f in figures for p in _spellings(f)]
    dash = await signed_in(gw, key)
    owner, _ = await member_session(gw, aid, "owner")  # for what a key may not read
    person = {"Authorization": f"Bearer {token(aid, 'owner')}"}
    walked: list[tuple[str, dict[str, str], int]] = [("the call's answer", {}, 200)]
    assert [n.pattern for n in names if n.search(answer)] == [], answer
    assert [p.pattern for p in spelled if p.search(answer)] == [], answer
    try:
        for path, query in _walk(gw):
            url = gw.url + path.format(**params)
            http, headers = (dash, {}) if path.startswith("/dashboard") else (
                gw.http, {"Authorization": f"Bearer {key}"})  # fmt: skip
            async with http.get(url, params=query, headers=headers) as r:
                text = _text(await r.read(), r.content_type)
                status = r.status
            if status == 403:  # people only (the audit log, domains): the owner reads it
                cookies = owner if path.startswith("/dashboard") else {}
                async with gw.http.get(url, params=query, cookies=cookies, headers=person) as r:
                    text = _text(await r.read(), r.content_type)
                    status = r.status
            assert status < 500, (path, query, text[:300])
            walked.append((path, query, status))
            said = [n.pattern for n in names if n.search(text)]
            said += [p.pattern for p in spelled if p.search(text)]
            assert said == [], (path, query, said)
    finally:
        await dash.close()
    read = {p for p, _, s in walked if s == 200}
    for page in ("/v1/account/exports/focus", "/v1/account/invoices/{number}",
                 "/dashboard/billing/receipts/{receipt_id}",
                 "/dashboard/billing/invoices/{number}/pdf"):  # fmt: skip
        assert page in read, (page, walked)
    assert len([w for w in walked if w[2] == 200]) > 30, walked


@pytest.mark.timeout(900)  # the validator's venv is built on a machine's first run
async def test_the_customer_s_focus_export_under_a_book_passes_the_validator(
    gw: Gateway, tmp_path: Path
) -> None:
    """The account's rows priced off the list card (its charge as ListCost, no list unit
    price) are still FOCUS 1.2, as CSV and as Parquet."""
    _, key = await _customer(gw)
    await _call(gw, key)
    headers = {"Authorization": f"Bearer {key}"}
    for fmt in ("csv", "parquet"):
        url = f"{gw.url}/v1/account/exports/focus?month={MONTH}&format={fmt}"
        async with gw.http.get(url, headers=headers) as r:
            assert r.status == 200, await r.text()
            (tmp_path / f"month.{fmt}").write_bytes(await r.read())
        assert failed_rules(tmp_path / f"month.{fmt}") == set(), fmt
    rows = list(csv.DictReader(io.StringIO((tmp_path / "month.csv").read_text())))
    usage = [r for r in rows if r["ChargeCategory"] == "Usage"]
    assert usage and all(r["ListCost"] == r["BilledCost"] for r in usage), usage
