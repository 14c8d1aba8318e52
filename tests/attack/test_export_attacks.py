"""Attacks on what a reseller's customer may see (docs/concepts/markups.md, What your
customers see; docs/guides/analytics.md, FOCUS `ListCost`) and on CSV formula cells
(docs/guides/analytics.md, docs/concepts/security.md): every customer surface and export
format, JSON, CSV, Parquet, FOCUS, PDF and the dashboard, of a marked-up account."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from tests.attack.calls import customer_get
from tests.attack.provider import Provider, fake_provider
from tests.support.billing_client import biller
from tests.support.dashboard_client import signed_in
from tests.support.factories import (
    FAST_REVIEW,
    Tenant,
    ledger,
    openai_client,
    reviewed_markup,
)
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway, temp_database

SCOPES = ["inference", "billing", "statements:read", "account:read", "ledger:read"]
SCOPES += ["usage:read", "audit:read", "org:write", "keys:read", "keys:write"]
# gpt-4o-mini: 0.15 micros an input token, 0.60 an output token; the gateway may cap what a
# provider reports, so the figures are read back from the operator's ledger
TOKENS = (5, 11_115)
MARKUP_BPS = 2000
NAMES = ["markup_bps", "next_markup", "provider_cost", "providercost", "gross_margin"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class Scene:
    gw: Gateway
    provider: Provider
    t: Tenant
    request_id: str
    sdk_cost: int
    month: str
    invoice: str
    charge: int
    provider_cost: int

    def leaks(self, text: str) -> list[str]:
        """Any of the reseller's own figures or field names in `text`."""
        low = text.lower()
        found = [n for n in NAMES if n in low]
        margin = self.charge - self.provider_cost
        for micros in (self.provider_cost, margin):
            for spelt in (str(micros), f"{micros:,}", f"{Decimal(micros) / 10**6:.6f}"):
                if re.search(rf"(?<![\d.,]){re.escape(spelt)}(?![\d])", text):
                    found.append(spelt)
        return found


@pytest.fixture(scope="module")
async def scene() -> AsyncIterator[Scene]:
    async with (
        temp_database() as dsn,
        fake_provider() as p,
        running_gateway(
            dsn,
            None,
            OPENAI_BASE_URL=p.url + "/v1",
            LEDGER_SIGNING_KEY=base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("="),
            **FAST_REVIEW,
        ) as gw,
    ):
        b = await biller(gw, plan="enterprise", scopes=SCOPES)
        await b.save_card()
        t = b.t
        await reviewed_markup(gw, t.account_id, 2000)
        prompt = f"markup-{secrets.token_hex(4)}"
        p.usage_by_prompt[prompt] = TOKENS
        client = openai_client(gw, t.key)
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            max_tokens=12_000,
            messages=[{"role": "user", "content": prompt}],
        )
        sdk_cost = int(raw.headers["x-meterway-cost-micros"])
        request_id = raw.headers["x-request-id"]
        await client.close()
        await gw.settle_all()
        month = datetime.now(UTC).strftime("%Y-%m")
        s, inv = await gw.admin(
            "PUT",
            f"/admin/v1/accounts/{t.account_id}/invoicing",
            {"legal_name": "Cust", "country": "US", "address": ["1 Main St"], "email": "a@b.c"},
        )
        assert s == 200, inv
        s, inv = await gw.admin(
            "POST", f"/admin/v1/accounts/{t.account_id}/invoices", {"month": month}
        )
        assert s == 201, inv
        rows = [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
        assert len(rows) == 1, rows
        charge, cost = rows[0]["charged_micros"], rows[0]["provider_cost_micros"]
        yield Scene(gw, p, t, request_id, sdk_cost, month, inv["number"], charge, cost)


async def test_the_operator_sees_the_provider_cost_and_the_charge(scene: Scene) -> None:
    """markups.md, What the ledger shows: `charged_micros`, `provider_cost_micros` (the
    control: the figures the customer must not see are there for the operator)."""
    assert scene.sdk_cost == scene.charge
    assert scene.charge > scene.provider_cost > 0


CUSTOMER_JSON = [
    "/v1/account",
    "/v1/account/ledger",
    "/v1/account/usage",
    "/v1/account/usage?group_by=model",
    "/v1/account/usage?group_by=key",
    "/v1/account/usage?group_by=day",
    "/v1/account/usage?group_by=kind",
    "/v1/account/usage?group_by=model&format=csv",
    "/v1/account/usage?group_by=key&format=csv",
    "/v1/account/billing",
    "/v1/account/keys",
    "/v1/account/runway",
    "/v1/account/invoices",
]


@pytest.mark.parametrize("path", CUSTOMER_JSON)
async def test_no_customer_api_answer_shows_markup_provider_cost_or_margin(
    scene: Scene, path: str
) -> None:
    """markups.md: "Your customers (the account API, its CLI commands and the dashboard,
    whatever the key or role) read what they were charged, never your markup, the provider's
    cost or your margin: `markup_bps`, `provider_cost_micros`, `gross_margin_micros` ... are
    left out of the account, its ledger, its usage report and CSV, ... its audit log"."""
    s, _, body = await customer_get(scene.gw, scene.t.key, path)
    assert s == 200, (path, s, body[:300])
    assert scene.leaks(body.decode()) == [], (path, scene.leaks(body.decode()), body[:2000])


async def test_a_requests_cost_and_receipt_show_the_charge_alone(scene: Scene) -> None:
    """markups.md: left out of "a request's cost, its receipts"; "a marked-up request's price
    arithmetic shows the charge alone (the rate card is the provider's)"."""
    gw, t = scene.gw, scene.t
    s, _, body = await customer_get(gw, t.key, f"/v1/account/requests/{scene.request_id}")
    assert s == 200, body[:300]
    assert scene.leaks(body.decode()) == [], body.decode()[:3000]
    assert str(scene.charge) in body.decode(), body.decode()[:3000]
    s, _, body = await customer_get(gw, t.key, f"/v1/account/requests/{scene.request_id}/receipt")
    assert s == 200, body[:300]
    text = body.decode()
    for part in re.findall(r"[A-Za-z0-9_-]{20,}", text):
        try:
            decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            continue
        assert scene.leaks(decoded) == [], decoded
    assert scene.leaks(text) == [], text


async def test_the_customers_invoice_and_statement_show_no_provider_cost(scene: Scene) -> None:
    """markups.md: left out of "its receipts" and the account's statements; an invoice's
    usage lines are the ledger's debits (what was charged)."""
    gw, t = scene.gw, scene.t
    for path in (
        f"/v1/account/invoices/{scene.invoice}",
        f"/v1/account/invoices/{scene.invoice}?format=pdf",
        f"/v1/account/statements/{scene.month}",
    ):
        s, _, body = await customer_get(gw, t.key, path)
        assert s == 200, (path, s, body[:300])
        text = body.decode("latin-1")
        assert scene.leaks(text) == [], (path, scene.leaks(text))
    s, _, body = await customer_get(gw, t.key, f"/v1/account/invoices/{scene.invoice}")
    assert json.loads(body)["usage_micros"] == scene.charge


async def test_the_customers_focus_csv_lists_the_charge_and_no_provider_cost(
    scene: Scene,
) -> None:
    """analytics.md: `ListCost`: "the account's own: what it was charged where a price book
    or markup priced the call (and no `ListUnitPrice` or `SkuPriceDetails` then)";
    "`x_ProviderCost` is in the operator's export only"."""
    s, _ct, body = await customer_get(
        scene.gw, scene.t.key, f"/v1/account/exports/focus?month={scene.month}"
    )
    assert s == 200, body[:300]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows and "x_ProviderCost" not in rows[0], list(rows[0]) if rows else rows
    usage = [r for r in rows if r["ChargeCategory"] == "Usage"]
    assert sum(Decimal(r["BilledCost"]) for r in usage) == Decimal(scene.charge) / 1_000_000
    for r in usage:
        assert r["ListCost"] == r["BilledCost"], r
        assert r["ListUnitPrice"] == "" and r["SkuPriceDetails"] == "", [
            (
                x["SkuMeter"],
                x["BilledCost"],
                x["ListCost"],
                x["ListUnitPrice"],
                x["SkuPriceDetails"],
            )
            for x in usage
        ]
    assert scene.leaks(body.decode()) == [], scene.leaks(body.decode())


async def test_the_customers_focus_parquet_lists_the_charge_and_no_provider_cost(
    scene: Scene,
) -> None:
    """analytics.md: the same promise in Parquet (`format=parquet`)."""
    s, _ct, body = await customer_get(
        scene.gw, scene.t.key, f"/v1/account/exports/focus?month={scene.month}&format=parquet"
    )
    assert s == 200, body[:300]
    table = pq.read_table(io.BytesIO(body))
    assert "x_ProviderCost" not in table.column_names, table.column_names
    rows = [r for r in table.to_pylist() if r["ChargeCategory"] == "Usage"]
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal(scene.charge) / 1_000_000
    for r in rows:
        assert Decimal(r["ListCost"]) == Decimal(r["BilledCost"]), r
        assert r["ListUnitPrice"] is None and r["SkuPriceDetails"] in (None, ""), r
    assert scene.leaks(json.dumps(table.to_pylist(), default=str)) == []


async def test_the_operators_focus_export_carries_the_provider_cost(scene: Scene) -> None:
    """analytics.md: operator's `ListCost`: the provider's cost at the list card
    (`x_ProviderCost`) (the control for the customer's export)."""
    async with scene.gw.http.get(
        scene.gw.url
        + f"/admin/v1/exports/focus?month={scene.month}&account_id={scene.t.account_id}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as r:
        assert r.status == 200
        rows = list(csv.DictReader(io.StringIO(await r.text())))
    usage = [x for x in rows if x["ChargeCategory"] == "Usage"]
    assert sum(Decimal(x["x_ProviderCost"]) for x in usage) == Decimal(scene.provider_cost) / 10**6


async def test_no_dashboard_page_shows_markup_provider_cost_or_margin(scene: Scene) -> None:
    """markups.md: "... and the dashboard, whatever the key or role"."""
    gw = scene.gw
    http = await signed_in(gw, scene.t.key)
    try:
        for path in (
            "/dashboard/",
            "/dashboard/usage",
            "/dashboard/billing",
            "/dashboard/keys",
            f"/dashboard/statements/{scene.month}",
            f"/dashboard/statements/{scene.month}/export",
            f"/dashboard/requests/{scene.request_id}",
            f"/dashboard/billing/invoices/{scene.invoice}/pdf",
        ):
            async with http.get(gw.url + path) as r:
                text = (await r.read()).decode("latin-1")
                if r.status == 404:
                    continue
                assert r.status == 200, (path, r.status)
                assert scene.leaks(text) == [], (path, scene.leaks(text))
    finally:
        await http.close()


# ------------------------------------------------------------------ CSV formulas


FORMULAS = {
    "account": '=HYPERLINK("http://evil.example","x")',
    "key": "+SUM(1,2)",
    "team": "-2+3+cmd|' /C calc'!A0",
    "tag": "@SUM(1)",
    "end_user": "=1+1",
}


@pytest.fixture(scope="module")
async def formulas(scene: Scene) -> Tenant:
    gw, _p = scene.gw, scene.provider
    s, account = await gw.admin(
        "POST", "/admin/v1/accounts", {"name": FORMULAS["account"], "plan": "pro"}
    )
    assert s == 201, account
    s, b = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{account['id']}/credits",
        {"amount_micros": 10_000_000, "idempotency_key": "seed", "reason": "test"},
    )
    assert s == 201, b
    s, key = await gw.admin(
        "POST",
        "/admin/v1/keys",
        {"account_id": account["id"], "name": FORMULAS["key"], "scopes": SCOPES},
    )
    assert s == 201, key
    t = Tenant(account["id"], key["key"], key["id"])
    auth = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.post(
        gw.url + "/v1/account/teams", json={"name": FORMULAS["team"]}, headers=auth
    ) as r:
        team = await r.json()
        assert r.status in (200, 201), team
    async with gw.http.put(
        gw.url + f"/v1/account/keys/{t.key_id}/team", json={"team_id": team["id"]}, headers=auth
    ) as r:
        assert r.status == 200, await r.text()
    s, b = await gw.admin(
        "PUT", f"/admin/v1/keys/{t.key_id}/tags", {"tags": {"cost_center": FORMULAS["tag"]}}
    )
    assert s == 200, b
    client = openai_client(gw, t.key)
    await client.chat.completions.create(
        model="gpt-4o-mini",
        max_tokens=600,
        messages=[{"role": "user", "content": "hi"}],
        user=FORMULAS["end_user"],
    )
    await client.close()
    await gw.settle_all()
    return t


def formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would run: beginning with = + - @ tab or CR, not a plain number."""
    bad = []
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if cell.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(cell):
                bad.append(cell)
    return bad


async def test_every_customer_csv_writes_formulas_inert(scene: Scene, formulas: Tenant) -> None:
    """analytics.md: "Every CSV Meterway writes (FOCUS, usage reports, statements, the audit
    log, reconciliation) writes a cell a spreadsheet would run as a formula inert: one
    beginning with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in front ...,
    whoever typed it (an account's, key's or team's name, a tag, ...)"."""
    gw, t = scene.gw, formulas
    month = scene.month
    paths = [
        f"/v1/account/exports/focus?month={month}",
        "/v1/account/usage?group_by=key&format=csv",
        "/v1/account/usage?group_by=team&format=csv",
        "/v1/account/usage?group_by=end_user&format=csv",
        "/v1/account/usage?group_by=tag:cost_center&format=csv",
        "/v1/account/usage?group_by=member&format=csv",
    ]
    seen = ""
    for path in paths:
        s, _, body = await customer_get(gw, t.key, path)
        assert s == 200, (path, s, body[:300])
        text = body.decode()
        seen += text
        assert formula_cells(text) == [], (path, formula_cells(text))
    http = await signed_in(gw, t.key)
    try:
        async with http.get(gw.url + f"/dashboard/statements/{month}/export") as r:
            assert r.status == 200, r.status
            text = await r.text()
            assert formula_cells(text) == [], formula_cells(text)
    finally:
        await http.close()
    # the control: the names reached the CSVs, quoted
    for name in FORMULAS.values():
        assert "'" + name in seen or "'" + name.replace('"', '""') in seen, name


async def test_every_operator_csv_writes_formulas_inert(scene: Scene, formulas: Tenant) -> None:
    """analytics.md: the same for the operator's CSVs (FOCUS, usage report, audit log)."""
    gw, t = scene.gw, formulas
    paths = [
        f"/admin/v1/exports/focus?month={scene.month}&account_id={t.account_id}",
        f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=key&format=csv",
        f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=team&format=csv",
        f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=tag:cost_center&format=csv",
        f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=end_user&format=csv",
        f"/admin/v1/audit?account_id={t.account_id}&format=csv",
    ]
    for path in paths:
        async with gw.http.get(
            gw.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as r:
            text = await r.text()
            assert r.status == 200, (path, r.status, text[:300])
        assert formula_cells(text) == [], (path, formula_cells(text))
