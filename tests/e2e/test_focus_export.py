"""FOCUS 1.2 exports end to end, on the statements' month of real traffic (calls through two
keys, one in a team, a paid top-up, a promotional grant that expires, an adjustment): the
rows pass the FinOps Foundation's focus-validator as CSV and as Parquet, add up to the
month's statement section by section and entry by entry, and read the same through the
account API, the operator API (one account or all) and `meterway export focus`."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from billing.audience import customer_columns, focus_rows_for_customer
from billing.usage.focus import micros_of
from billing.usage.focus_columns import COLUMNS
from tests.e2e.test_statements import OrgMonth, get, gw, traffic
from tests.support.factories import openai_client, tenant
from tests.support.focus_validator import failed_rules
from tests.support.harness import ADMIN_KEY, Gateway, store_cli

__all__ = ["gw", "traffic"]  # the statements' module fixtures, used here as they are
HI = [{"role": "user", "content": "hi"}]
MINE = customer_columns(COLUMNS)  # the account's export: no operator-only column


async def _csv(
    gw: Gateway, path: str, bearer: str, columns: tuple[str, ...] = COLUMNS
) -> list[dict[str, str]]:
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {bearer}"}) as r:
        text = await r.text()
        assert r.status == 200, text
        assert r.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and list(rows[0]) == list(columns)
    return rows


def _as_customer(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The operator's rows as the account reads them (billing/audience.py)."""
    return [{k: v or "" for k, v in r.items()} for r in focus_rows_for_customer(rows)]


def _sum(rows: list[dict[str, str]], **where: str) -> int:
    return sum(micros_of(r["BilledCost"]) for r in rows if all(r[k] == v for k, v in where.items()))


async def test_the_rows_add_up_to_the_statement_section_by_section_and_entry_by_entry(
    gw: Gateway, traffic: OrgMonth
) -> None:
    rows = await _csv(gw, f"/v1/account/exports/focus?month={traffic.month}", traffic.key, MINE)
    status, s = await get(gw, f"/v1/account/statements/{traffic.month}", traffic.key)
    assert status == 200, s
    assert sum(micros_of(r["BilledCost"]) for r in rows) == (
        s["opening_balance_micros"] - s["closing_balance_micros"]
    )
    assert _sum(rows, ChargeCategory="Usage") == -s["usage"]["total_micros"]
    assert _sum(rows, ChargeCategory="Credit") == -s["credits"]["total_micros"]
    after = sum(s[n]["total_micros"] for n in ("expiries", "refunds", "adjustments"))
    assert _sum(rows, ChargeCategory="Adjustment") == -after
    by_entry: dict[str, int] = defaultdict(int)
    for r in rows:
        by_entry[r["x_LedgerEntryId"]] += micros_of(r["BilledCost"])
    ledger = {str(e["id"]): -e["amount_micros"] for e in traffic.rows if e["amount_micros"]}
    assert dict(by_entry) == ledger
    calls = [r for r in rows if r["ChargeCategory"] == "Usage"]
    assert {r["SkuId"] for r in calls} >= {"gpt-4o/input_tokens", "gpt-4o/output_tokens"}
    assert {r["x_TeamName"] for r in calls} == {"research", ""}
    tags = {r["x_TeamName"]: json.loads(r["Tags"]) for r in calls}
    assert tags["research"]["cost_center"] == "cc-research"
    assert (tags[""]["cost_center"], tags[""]["project"]) == ("cc-ops", "p 1")
    assert tags[""]["meterway/key"] == "ops"
    assert all(r["x_PriceVersion"] and r["SkuPriceId"] for r in calls)
    assert {r["x_GrantKind"] for r in rows if r["ChargeCategory"] == "Credit"} == {
        "paid", "promotional",
    }  # fmt: skip


@pytest.mark.timeout(900)  # the validator's venv is built on a machine's first run
async def test_csv_and_parquet_pass_the_focus_validator(
    gw: Gateway, traffic: OrgMonth, tmp_path: Path
) -> None:
    path = f"/v1/account/exports/focus?month={traffic.month}"
    headers = {"Authorization": f"Bearer {traffic.key}"}
    async with gw.http.get(gw.url + path, headers=headers) as r:
        assert r.status == 200
        (tmp_path / "month.csv").write_bytes(await r.read())
    async with gw.http.get(gw.url + path + "&format=parquet", headers=headers) as r:
        assert r.status == 200 and r.content_type == "application/vnd.apache.parquet"
        (tmp_path / "month.parquet").write_bytes(await r.read())
    assert failed_rules(tmp_path / "month.csv") == set()
    assert failed_rules(tmp_path / "month.parquet") == set()
    broken = list(csv.reader(io.StringIO((tmp_path / "month.csv").read_text())))
    at = broken[0].index("ChargeCategory")
    for line in broken[1:]:
        line[at] = "Spend"  # not one of FOCUS's categories: the validator must say so
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(broken)
    (tmp_path / "broken.csv").write_text(out.getvalue())
    assert "ChargeCategory-C-003-M" in failed_rules(tmp_path / "broken.csv")
    table = pq.read_table(tmp_path / "month.parquet").to_pylist()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "month.csv").read_text())))
    assert [Decimal(r["BilledCost"]) for r in rows] == [t["BilledCost"] for t in table]


async def test_the_operator_reads_one_account_or_every_one_and_the_cli_writes_parquet(
    gw: Gateway, traffic: OrgMonth, tmp_path: Path
) -> None:
    other = await tenant(gw, scopes=["chat"])
    async with openai_client(gw, other.key) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)  # type: ignore[arg-type]
    await gw.settle_all()
    mine = await _csv(gw, f"/v1/account/exports/focus?month={traffic.month}", traffic.key, MINE)
    one = f"/admin/v1/exports/focus?month={traffic.month}&account_id={traffic.account_id}"
    assert _as_customer(await _csv(gw, one, ADMIN_KEY)) == mine
    every = await _csv(gw, f"/admin/v1/exports/focus?month={traffic.month}", ADMIN_KEY)
    accounts = {r["BillingAccountId"] for r in every}
    assert {traffic.account_id, other.account_id} <= accounts
    assert _as_customer([r for r in every if r["BillingAccountId"] == traffic.account_id]) == mine

    out = tmp_path / "focus.parquet"
    args = ["export", "focus", "--month", traffic.month, "--account", traffic.account_id,
            "--format", "parquet", "-o", str(out)]  # fmt: skip
    code, _, err = await store_cli(gw, *args)
    assert code == 0, err
    table: list[dict[str, Any]] = pq.read_table(out).to_pylist()
    assert [str(t["x_LedgerEntryId"]) for t in table] == [r["x_LedgerEntryId"] for r in mine]
    assert sum(t["BilledCost"] for t in table) == sum(Decimal(r["BilledCost"]) for r in mine)


async def test_bad_months_formats_and_roles_are_refused(gw: Gateway, traffic: OrgMonth) -> None:
    for query, param in (("month=2026-13", "month"), ("format=xlsx", "format")):
        status, err = await get(gw, f"/v1/account/exports/focus?{query}", traffic.key)
        assert (status, err["error"]["param"]) == (400, param), err
    member = await tenant(gw, scopes=["chat"])
    status, err = await get(gw, "/v1/account/exports/focus", member.key)
    assert status == 403, err
