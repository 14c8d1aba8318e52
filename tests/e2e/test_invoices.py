"""Invoices end to end (docs/guides/invoices.md): real calls through the gateway with the
official openai SDK put real debits in the ledger, then the operator issues invoices from
it: in EUR with German VAT for a German consumer, reverse-charged for a French business, in
JPY (no minor unit); a credit note after one; numbers without gaps under concurrent issuing
and failed issues; the issued rows refused an UPDATE by SQL; the lines summing to the
ledger's debits of the period to the micro; the account reading its own as JSON and PDF;
the CLI; every issue audited.

One gateway serves the module; the invoice numbers of its series are checked whole at the end."""

from __future__ import annotations

import asyncio
import html
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from openai.types.chat import ChatCompletionMessageParam

from billing.contracts.statements import month_of
from billing.money.display import usd as display_usd
from gateway.http.appkeys import DASHBOARD_SESSIONS
from gateway.http.dashboard.people.session import COOKIE, digest
from gateway.services.auth import hash_key
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.factories import ledger, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
SCOPES = ["chat", "account:read", "billing:read"]
SELLER = {
    "SELLER_NAME": "Meterway GmbH",
    "SELLER_ADDRESS": "Hauptstr. 1;10115 Berlin",
    "SELLER_TAX_ID": "DE811907980",
}
MONTH = str(month_of(datetime.now(UTC)))
LAST_MONTH = str(month_of(datetime.now(UTC)).previous())


@dataclass
class Customer:
    account_id: str
    key: str


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **SELLER) as gateway:
        yield gateway
        await gateway.settle_all()


async def postpaid(gw: Gateway, details: dict[str, Any], calls: int = 0) -> Customer:
    """A postpaid organization with these invoicing details and `calls` real calls (each
    model in turn), settled into the ledger."""
    t = await tenant(gw, plan="enterprise", credit=0, scopes=SCOPES)
    path = f"/admin/v1/accounts/{t.account_id}"
    status, _ = await gw.admin("PUT", f"{path}/plan", {"plan": "enterprise", "billing_ready": True})
    assert status == 200
    status, body = await gw.admin("PUT", f"{path}/invoicing", details)
    assert status == 200, body
    async with openai_client(gw, t.key) as client:
        for i in range(calls):
            model = ("gpt-4o", "gpt-4o-mini")[i % 2]
            await client.chat.completions.create(model=model, messages=HI, max_tokens=50)
    await gw.settle_all()
    return Customer(t.account_id, t.key)


async def issue(gw: Gateway, account_id: str, **body: Any) -> tuple[int, Any]:
    path = f"/admin/v1/accounts/{account_id}/invoices"
    return await gw.admin("POST", path, {"month": MONTH, **body})


async def debits_by_model(gw: Gateway, account_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in await ledger(gw, account_id):
        if r["kind"] == "debit":
            out[r["model"]] = out.get(r["model"], 0) + r["amount_micros"]
    return out


def half_up(micros: int, rate: str, digits: int) -> int:
    exact = Decimal(micros) * Decimal(rate) * 10**digits / 10**6
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def test_eur_invoice_with_german_vat(gw: Gateway) -> None:
    gw.control.usage = {"prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500}
    c = await postpaid(gw, {
        "legal_name": "Erika Mustermann", "address": ["Heidestr. 17", "51147 Köln"],
        "country": "DE", "currency": "EUR", "rate": "0.9231",
        "rate_source": "ECB reference rate",
    }, calls=4)  # fmt: skip
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    debits = await debits_by_model(gw, c.account_id)
    assert len(debits) == 2 and all(v < 0 for v in debits.values())
    usage = [ln for ln in inv["lines"] if ln["section"] == "usage"]
    # Lines equal the ledger's debits of the period to the micro, before any rounding.
    assert {ln["key"]: -ln["amount_micros"] for ln in usage} == debits
    assert inv["usage_micros"] == -sum(debits.values()) == sum(ln["amount_micros"] for ln in usage)
    assert all(ln["quantities"]["input"] > 0 and ln["quantities"]["output"] > 0 for ln in usage)
    assert all(ln["unit_price"] is None for ln in usage)  # several token kinds, one rounding
    for ln in usage:
        assert ln["amount_minor"] == half_up(ln["amount_micros"], "0.9231", 2)
    assert (inv["currency"], inv["minor_units"], inv["rate"]) == ("EUR", 2, "0.9231")
    assert inv["rate_source"] == "ECB reference rate"
    assert inv["tax"] == {
        "name": "VAT", "percent": "19", "mention": "", "reverse_charge": False, "source": "table"
    }  # fmt: skip
    subtotal = sum(ln["amount_minor"] for ln in usage)
    assert inv["subtotal_minor"] == subtotal
    tax = int((Decimal(subtotal) * Decimal("0.19")).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert (inv["tax_minor"], inv["total_minor"]) == (tax, subtotal + tax)
    assert inv["issuer"]["name"] == "Meterway GmbH" and inv["issuer"]["tax_id"] == "DE811907980"
    assert inv["issuer"]["country"] == "DE" and inv["customer"]["country"] == "DE"
    assert inv["customer"]["address"] == ["Heidestr. 17", "51147 Köln"]


async def test_reverse_charge_for_a_french_business(gw: Gateway) -> None:
    c = await postpaid(gw, {
        "legal_name": "Exemple SAS", "address": ["1 rue de Rivoli", "75001 Paris"],
        "country": "FR", "tax_id": "FR40303265045", "currency": "EUR", "rate": "0.92",
    }, calls=2)  # fmt: skip
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    assert inv["tax"] == {
        "name": "VAT", "percent": "0", "mention": "Reverse charge", "reverse_charge": True,
        "source": "table",
    }  # fmt: skip
    assert inv["tax_minor"] == 0 and inv["total_minor"] == inv["subtotal_minor"] > 0
    assert inv["customer"]["tax_id"] == "FR40303265045"
    pdf = await gw.http.get(
        f"{gw.url}/admin/v1/invoices/{inv['number']}?format=pdf",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    body = await pdf.read()
    assert pdf.status == 200 and body.startswith(b"%PDF-1.4") and b"(Reverse charge) Tj" in body


@pytest.mark.parametrize(
    "tax_id",
    ["!!! not a VAT id ???", "FR40303265046", "DE136695976", "40303265046", "FRXX"],
)
async def test_a_tax_id_that_is_not_the_customers_vat_number_is_refused(
    gw: Gateway, tax_id: str
) -> None:
    """Not a VAT number, a wrong check digit, another member state's: refused, naming the
    field, so it never turns VAT off."""
    t = await tenant(gw, plan="enterprise", credit=0)
    path = f"/admin/v1/accounts/{t.account_id}/invoicing"
    status, body = await gw.admin("PUT", path, {"country": "FR", "tax_id": tax_id})
    assert status == 400 and body["error"]["param"] == "tax_id", body
    status, body = await gw.admin("PUT", path, {"country": "FR"})
    assert status == 200 and body["tax_id"] == ""
    status, body = await gw.admin("PUT", path, {"tax_id": tax_id})  # the stored country's
    assert status == 400 and body["error"]["param"] == "tax_id", body


async def test_a_vat_number_is_kept_in_its_compact_form(gw: Gateway) -> None:
    t = await tenant(gw, plan="enterprise", credit=0)
    path = f"/admin/v1/accounts/{t.account_id}/invoicing"
    for written in ("FR 40 303 265 045", "40303265045", "fr40303265045"):
        status, body = await gw.admin("PUT", path, {"country": "FR", "tax_id": written})
        assert status == 200 and body["tax_id"] == "FR40303265045", body
    # A customer moved to another country keeps no VAT number of the one it left.
    status, body = await gw.admin("PUT", path, {"country": "DE"})
    assert status == 400 and body["error"]["param"] == "tax_id", body


async def test_jpy_invoice_has_whole_yen(gw: Gateway) -> None:
    c = await postpaid(gw, {"country": "JP", "currency": "JPY", "rate": "151.37"}, calls=3)
    status, inv = await issue(gw, c.account_id, group_by="key")
    assert status == 201, inv
    assert (inv["currency"], inv["minor_units"], inv["group_by"]) == ("JPY", 0, "key")
    [line] = [ln for ln in inv["lines"] if ln["section"] == "usage"]
    assert line["key"] and line["requests"] == 3
    assert line["amount_minor"] == half_up(line["amount_micros"], "151.37", 0)
    assert line["amount"] == f"{line['amount_minor']:,} JPY"
    assert inv["tax"]["name"] == "JCT" and inv["tax"]["percent"] == "10"
    assert line["amount_micros"] == -sum((await debits_by_model(gw, c.account_id)).values())


@pytest.mark.parametrize("group_by", ["tag:cost_center", "team"])
async def test_usage_by_tag_or_team(gw: Gateway, group_by: str) -> None:
    t = await tenant(gw, plan="enterprise", credit=0, scopes=SCOPES)
    path = f"/admin/v1/accounts/{t.account_id}"
    status, _ = await gw.admin("PUT", f"{path}/plan", {"plan": "enterprise", "billing_ready": True})
    assert status == 200
    status, team = await gw.admin("POST", f"{path}/teams", {"name": "research"})
    assert status == 201, team
    status, _ = await gw.admin("PUT", f"/admin/v1/keys/{t.key_id}/team", {"team_id": team["id"]})
    assert status == 200
    status, _ = await gw.admin(
        "PUT", f"/admin/v1/keys/{t.key_id}/tags", {"tags": {"cost_center": "cc-7"}}
    )
    assert status == 200
    async with openai_client(gw, t.key) as client:
        for _ in range(2):
            await client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=50)
    await gw.settle_all()
    status, inv = await issue(gw, t.account_id, group_by=group_by)
    assert status == 201, inv
    [line] = [ln for ln in inv["lines"] if ln["section"] == "usage"]
    want = ("cc-7", "cc-7") if group_by.startswith("tag") else (team["id"], "research")
    assert (line["key"], line["label"]) == want and line["requests"] == 2
    assert line["amount_micros"] == -sum((await debits_by_model(gw, t.account_id)).values())


async def test_credit_note_after_an_invoice(gw: Gateway) -> None:
    c = await postpaid(gw, {"country": "DE", "currency": "EUR", "rate": "0.92"}, calls=2)
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    path = f"/admin/v1/invoices/{inv['number']}/credit-note"
    status, note = await gw.admin("POST", path, {"reason": "refund: service outage"})
    assert status == 201, note
    assert note["kind"] == "credit_note" and note["credits"] == inv["number"]
    assert note["number"] != inv["number"] and note["number"].startswith("INV-")
    assert [ln["amount_minor"] for ln in note["lines"]] == [
        -ln["amount_minor"] for ln in inv["lines"]
    ]
    assert (note["subtotal_minor"], note["tax_minor"], note["total_minor"]) == (
        -inv["subtotal_minor"], -inv["tax_minor"], -inv["total_minor"]
    )  # fmt: skip
    status, again = await gw.admin("POST", path, {"reason": "twice"})
    assert status == 409, again  # every line is credited already
    status, bad = await gw.admin("POST", f"/admin/v1/invoices/{note['number']}/credit-note",
                                 {"reason": "credit a credit note"})  # fmt: skip
    assert status == 409, bad
    status, audit = await gw.admin("GET", f"/admin/v1/audit?account_id={c.account_id}")
    assert status == 200
    actions = [r["action"] for r in audit["data"]]
    assert "invoice.issue" in actions and "invoice.credit_note" in actions


async def test_credit_notes_for_some_lines(gw: Gateway) -> None:
    """A refund of one model's usage: a credit note for that line; then the rest; a line
    is never credited twice."""
    c = await postpaid(gw, {"country": "FR", "currency": "EUR", "rate": "0.92"}, calls=2)
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    assert [ln["position"] for ln in inv["lines"]] == [1, 2]
    path = f"/admin/v1/invoices/{inv['number']}/credit-note"
    status, first = await gw.admin("POST", path, {"reason": "gpt-4o refund", "lines": [2]})
    assert status == 201, first
    [line] = first["lines"]
    assert line["credits_position"] == 2 and line["key"] == inv["lines"][1]["key"]
    assert line["amount_minor"] == -inv["lines"][1]["amount_minor"]
    assert first["usage_micros"] == line["amount_micros"] == -inv["lines"][1]["amount_micros"]
    status, again = await gw.admin("POST", path, {"reason": "twice", "lines": [2]})
    assert status == 409, again
    status, rest = await gw.admin("POST", path, {"reason": "the rest"})
    assert status == 201, rest
    assert [ln["credits_position"] for ln in rest["lines"]] == [1]
    status, bad = await gw.admin("POST", path, {"reason": "x", "lines": ["1"]})
    assert status == 400, bad


async def test_issued_invoice_refuses_sql_changes(gw: Gateway, dsn: str) -> None:
    c = await postpaid(gw, {"country": "DE"}, calls=1)
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    number = int(inv["number"].split("-")[1])
    conn = await asyncpg.connect(dsn)
    try:
        for sql in (
            "UPDATE invoices SET total_minor = 0 WHERE number = $1",
            "DELETE FROM invoices WHERE number = $1",
            "UPDATE invoice_lines SET amount_minor = 0 WHERE invoice_id ="
            " (SELECT id FROM invoices WHERE number = $1)",
            "DELETE FROM invoice_lines WHERE invoice_id ="
            " (SELECT id FROM invoices WHERE number = $1)",
            "INSERT INTO invoice_lines (invoice_id, position, section, key, label, entries,"
            " requests, quantities, amount_micros, amount_minor) SELECT id, 99, 'usage', 'x',"
            " 'x', 1, 1, '{}', 1, 1 FROM invoices WHERE number = $1",
        ):
            with pytest.raises(asyncpg.RaiseError, match="invoice"):
                await conn.execute(sql, number)
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("TRUNCATE invoice_deliveries, invoice_lines, invoices")
        total = await conn.fetchval("SELECT total_minor FROM invoices WHERE number = $1", number)
        assert total == inv["total_minor"]
    finally:
        await conn.close()


async def test_the_account_reads_its_own_invoices(gw: Gateway, tmp_path: Path) -> None:
    c = await postpaid(gw, {"country": "DE", "legal_name": "Own GmbH"}, calls=1)
    other = await postpaid(gw, {"country": "DE"})
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    headers = {"Authorization": f"Bearer {c.key}"}
    async with gw.http.get(f"{gw.url}/v1/account/invoices", headers=headers) as r:
        listed = await r.json()
    assert r.status == 200 and [i["number"] for i in listed["data"]] == [inv["number"]]
    async with gw.http.get(f"{gw.url}/v1/account/invoices/{inv['number']}", headers=headers) as r:
        assert r.status == 200 and (await r.json()) == inv
    pdf_headers = {**headers, "Accept": "application/pdf"}
    one = f"{gw.url}/v1/account/invoices/{inv['number']}"
    async with gw.http.get(one, headers=pdf_headers) as r:
        assert r.status == 200 and r.content_type == "application/pdf"
        assert (await r.read()).startswith(b"%PDF")
    async with gw.http.get(
        f"{gw.url}/v1/account/invoices/{inv['number']}",
        headers={"Authorization": f"Bearer {other.key}"},
    ) as r:
        assert r.status == 404
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "invoices", "show", inv["number"])
    assert run.code == 0, run.err
    assert inv["number"] in run.out and inv["total"] in run.out
    run = await meterway(gw, tmp_path, "invoices", "list", "--account", c.account_id)
    assert run.code == 0 and inv["number"] in run.out


async def test_an_archived_month_is_refused(gw: Gateway, dsn: str) -> None:
    """Retention moved the month out of ledger_entries: an invoice from what is left would
    miss its debits, so none is issued."""
    c = await postpaid(gw, {"country": "DE"})
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO ledger_archived_sums (account_id, month, kind, entries, amount_micros,"
            " archive_table) VALUES ($1, $2, 'debit', 1, -5, 'ledger_entries_x')",
            c.account_id, month_of(datetime.now(UTC)).previous().start.date(),
        )  # fmt: skip
    finally:
        await conn.close()
    status, body = await issue(gw, c.account_id, month=LAST_MONTH)
    assert status == 409 and "archived" in body["error"]["message"]


async def test_a_rate_is_an_exact_decimal_string_and_needed(gw: Gateway) -> None:
    c = await postpaid(gw, {"country": "JP"})
    path = f"/admin/v1/accounts/{c.account_id}/invoicing"
    for bad in ({"rate": 151.37}, {"rate": "1e2"}, {"currency": "XYZ"}, {"group_by": "x"}):
        status, body = await gw.admin("PUT", path, bad)
        assert status == 400, (bad, body)
    status, body = await issue(gw, c.account_id, currency="JPY")
    assert status == 400 and "needs a rate" in body["error"]["message"]
    status, body = await issue(gw, c.account_id, currency="JPY", rate=151.37)
    assert status == 400, body
    status, inv = await issue(gw, c.account_id, currency="JPY", rate="151.37",
                              rate_source="operator, 27 Nov 2026")  # fmt: skip
    assert status == 201 and inv["rate_source"] == "operator, 27 Nov 2026"


async def test_a_prepaid_account_without_a_commitment_is_not_invoiced(gw: Gateway) -> None:
    t = await tenant(gw)
    status, body = await issue(gw, t.account_id)
    assert status == 409 and "postpaid" in body["error"]["message"]


async def test_gapless_numbers_under_concurrent_and_failed_issues(gw: Gateway) -> None:
    """20 issues at once, and 10 that fail inside their transaction (a month already
    invoiced in full) among them: every number of the series is used once, 1..N."""
    customers = await asyncio.gather(*(postpaid(gw, {"country": "DE"}) for _ in range(20)))
    done = customers[:5]
    for c in done:  # last month, in full: issuing it again fails after taking a number
        status, body = await issue(gw, c.account_id, month=LAST_MONTH)
        assert status == 201, body
    results = await asyncio.gather(
        *(issue(gw, c.account_id) for c in customers),
        *(issue(gw, c.account_id, month=LAST_MONTH) for c in done + done),
    )
    assert [s for s, _ in results[:20]] == [201] * 20
    assert [s for s, _ in results[20:]] == [409] * 10
    status, every = await gw.admin("GET", "/admin/v1/invoices")
    assert status == 200
    numbers = sorted(int(i["number"].split("-")[1]) for i in every["data"])
    assert numbers == list(range(1, len(numbers) + 1))
    fresh = {int(b["number"].split("-")[1]) for _, b in results[:20]}
    assert fresh == set(range(numbers[-1] - 19, numbers[-1] + 1))


async def key_session(gw: Gateway, account_id: str, key: str) -> dict[str, str]:
    """A dashboard session signed in with the account's key (as the sign-in page makes)."""
    cookie = secrets.token_urlsafe(24)
    record = {"kind": "key", "account_id": account_id, "key_hash": hash_key(key), "csrf": "x",
              "operator": False, "label": "key"}  # fmt: skip
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 600)
    return {COOKIE: cookie}


async def test_the_billing_page_shows_each_invoice_in_both_currencies(gw: Gateway) -> None:
    gw.control.usage = {"prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500}
    c = await postpaid(gw, {"country": "DE", "currency": "EUR", "rate": "0.9231"}, calls=2)
    other = await postpaid(gw, {"country": "DE"})
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    usd = sum(ln["amount_micros"] for ln in inv["lines"] if ln["section"] == "usage")
    cookies = await key_session(gw, c.account_id, c.key)
    async with gw.http.get(f"{gw.url}/dashboard/billing", cookies=cookies) as r:
        page = html.unescape(await r.text())
    assert r.status == 200, page
    row = page[page.index(f'data-invoice="{inv["number"]}"') :].split("</tr>")[0]
    assert inv["total"] in row and f"{display_usd(usd)} before tax, at 0.9231 EUR per USD" in row
    assert ">issued<" in row  # not sent
    pdf = f"{gw.url}/dashboard/billing/invoices/{inv['number']}/pdf"
    async with gw.http.get(pdf, cookies=cookies) as r:
        assert r.status == 200 and r.content_type == "application/pdf"
        assert (await r.read()).startswith(b"%PDF")
    # Another organization's session: no such invoice, and none on its page.
    theirs = await key_session(gw, other.account_id, other.key)
    async with gw.http.get(pdf, cookies=theirs) as r:
        assert r.status == 404
    async with gw.http.get(f"{gw.url}/dashboard/billing", cookies=theirs) as r:
        assert inv["number"] not in await r.text()


async def test_a_bad_group_by_is_the_same_400_as_a_usage_report_s(gw: Gateway) -> None:
    """An unknown grouping is the caller's mistake wherever it is asked for: the invoice's
    issue and details answer what the usage report answers, naming the parameter."""
    c = await postpaid(gw, {"country": "DE"})
    path = f"/admin/v1/accounts/{c.account_id}"
    _, report = await gw.admin("GET", f"{path}/usage/report?group_by=x")
    issued = await issue(gw, c.account_id, group_by="x")
    details = await gw.admin("PUT", f"{path}/invoicing", {"group_by": "x"})
    for status, body in ((400, report), issued, details):
        error = body["error"]
        assert status == 400, body
        assert (error["type"], error["code"], error["param"]) == (
            report["error"]["type"], report["error"]["code"], "group_by"
        ), body  # fmt: skip
