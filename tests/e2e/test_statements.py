"""Monthly statements end to end: a month of real traffic through the gateway (calls through
two keys, one in a team, a paid top-up, a promotional grant that expires, an adjustment),
whose statement reconciles exactly with the ledger, answers the same figures as JSON and
CSV, through the operator API, the account API and both CLI commands, to the roles allowed
(owner, admin, billing; not member or viewer), and prints from the dashboard in Chromium.

One gateway and one organization's month serve the whole module."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam
from playwright.async_api import ConsoleMessage, Page

from billing.contracts.statements import Month, month_of
from billing.money.display import usd_line
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.test_grants_api import HOUR_MS, credit, gateway_now, grants_of, write_offs
from tests.e2e.test_roles import member_session, token
from tests.support.browser_kit import ARTIFACTS, low_contrast, screenshots, sign_in, unlabelled
from tests.support.factories import ledger, openai_client, tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
READERS = ("owner", "admin", "billing")
NOT_READERS = ("member", "viewer")


@dataclass
class OrgMonth:
    account_id: str
    key: str  # an API key with a billing scope: it reads statements too
    month: str
    rows: list[dict[str, Any]]  # the account's ledger entries


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    env = {
        **ROLE_CLAIM_ENV,
    }
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


@pytest.fixture(scope="module")
async def traffic(gw: Gateway) -> OrgMonth:
    """An organization's month: a $5 top-up, a $2 promotion spent first and expiring, calls
    to two models through a key in team `research` and a key in none, an adjustment. The
    team and the other key carry tags (FOCUS's Tags)."""
    gw.control.usage = {"prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500}
    scopes = ["chat", "account:read", "billing:read"]
    org = await tenant(gw, credit=5_000_000, scopes=scopes)
    path = f"/admin/v1/accounts/{org.account_id}/teams"
    status, team = await gw.admin("POST", path, {"name": "research"})
    assert status == 201, team
    status, _ = await gw.admin("PUT", f"/admin/v1/keys/{org.key_id}/team", {"team_id": team["id"]})
    assert status == 200
    status, other = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": org.account_id, "name": "ops", "scopes": ["chat"]}
    )
    assert status == 201, other
    for path, tags in (
        (f"/admin/v1/teams/{team['id']}/tags", {"cost_center": "cc-research"}),
        (f"/admin/v1/keys/{other['id']}/tags", {"cost_center": "cc-ops", "project": "p 1"}),
    ):
        status, body = await gw.admin("PUT", path, {"tags": tags})
        assert status == 200, body
    expires = await gateway_now(gw) + timedelta(hours=1)
    await credit(gw, org.account_id, 2_000_000, "promo", kind="promotional",
                 expires_at=expires.isoformat())  # fmt: skip
    async with openai_client(gw, org.key) as client:
        for _ in range(3):
            await client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=50)
    async with openai_client(gw, other["key"]) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=50)
    await grants_of(gw, org.account_id)
    await gw.advance_clock(HOUR_MS + 1_000)
    await write_offs(gw, org.account_id, 1)
    body = {"amount_micros": -125_000, "idempotency_key": "adj", "reason": "goodwill back"}
    status, adj = await gw.admin("POST", f"/admin/v1/accounts/{org.account_id}/adjustments", body)
    assert status == 201, adj
    await gw.settle_all()
    month = str(month_of(datetime.now(UTC)))
    return OrgMonth(org.account_id, org.key, month, await ledger(gw, org.account_id))


async def get(gw: Gateway, path: str, bearer: str, **headers: str) -> tuple[int, Any]:
    headers["Authorization"] = f"Bearer {bearer}"
    async with gw.http.get(gw.url + path, headers=headers) as r:
        body = await (r.text() if r.content_type == "text/csv" else r.json())
        return r.status, body


def csv_figures(text: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {
        (r["section"], r["key"]): (int(r["entries"]), int(r["requests"]), int(r["amount_micros"]))
        for r in rows
    }


def json_figures(s: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """The JSON statement in the CSV's shape, to compare the two figure by figure."""
    out = {
        ("opening_balance", ""): (0, 0, s["opening_balance_micros"]),
        ("closing_balance", ""): (0, 0, s["closing_balance_micros"]),
    }
    parts = [(n, s[n]["lines"], s[n]) for n in ("credits", "expiries", "refunds", "adjustments")]
    parts += [("other", s["other"]["lines"], s["other"])]
    usage = s["usage"]
    parts += [(f"usage_{v}", usage[v], usage) for v in ("by_model", "by_team", "by_kind")]
    for name, lines, section in parts:
        for x in lines:
            out[(name, x["key"])] = (x["entries"], x["requests"], x["amount_micros"])
        requests = sum(x["requests"] for x in lines)
        out[(f"{name}_total", "")] = (section["entries"], requests, section["total_micros"])
    return out


def _by_kind(rows: list[dict[str, Any]], kind: str) -> int:
    return sum(r["amount_micros"] for r in rows if r["kind"] == kind)


async def test_the_statement_reconciles_exactly_with_the_ledger(
    gw: Gateway, traffic: OrgMonth
) -> None:
    path = f"/admin/v1/accounts/{traffic.account_id}/statements/{traffic.month}"
    status, s = await get(gw, path, ADMIN_KEY)
    assert status == 200, s
    rows = traffic.rows
    assert s["reconciled"] and s["complete"] and not s["final"]
    assert s["opening_balance_micros"] == 0  # a new organization
    status, account = await gw.admin("GET", f"/admin/v1/accounts/{traffic.account_id}")
    assert (
        s["closing_balance_micros"]
        == account["balance_micros"]
        == sum(r["amount_micros"] for r in rows)
    )
    lines = ("usage", "credits", "expiries", "refunds", "adjustments", "other")
    assert (
        s["opening_balance_micros"] + sum(s[n]["total_micros"] for n in lines)
        == (s["closing_balance_micros"])
    )
    credits = {x["key"]: x["amount_micros"] for x in s["credits"]["lines"]}
    assert credits == {"paid": 5_000_000, "promotional": 2_000_000}
    spent = -_by_kind(rows, "debit")
    assert s["usage"]["total_micros"] == -spent and s["usage"]["requests"] == 4
    [expiry] = s["expiries"]["lines"]
    assert (expiry["key"], expiry["amount_micros"]) == ("promotional", -(2_000_000 - spent))
    assert s["expiries"]["total_micros"] == _by_kind(rows, "expire")
    assert s["adjustments"]["total_micros"] == -125_000 == _by_kind(rows, "adjustment")
    models = {x["key"]: (x["requests"], x["amount_micros"]) for x in s["usage"]["by_model"]}
    assert set(models) == {"gpt-4o", "gpt-4o-mini"} and models["gpt-4o"][0] == 3
    for model, (_, amount) in models.items():
        assert amount == sum(r["amount_micros"] for r in rows if r.get("model") == model)
    teams = {x["label"]: x["requests"] for x in s["usage"]["by_team"]}
    assert teams == {"research": 3, "(no team)": 1}
    assert [x["key"] for x in s["usage"]["by_kind"]] == ["llm_calls"]
    await check_invariants(gw.stores(), [traffic.account_id])

    previous = str(Month(*map(int, traffic.month.split("-"))).previous())
    status, before = await get(gw, path.replace(traffic.month, previous), ADMIN_KEY)
    assert status == 200 and before["reconciled"] and before["final"]
    assert (before["opening_balance_micros"], before["closing_balance_micros"]) == (0, 0)


async def test_json_and_csv_carry_the_same_figures(gw: Gateway, traffic: OrgMonth) -> None:
    path = f"/v1/account/statements/{traffic.month}"
    status, s = await get(gw, path, traffic.key)
    assert status == 200, s
    status, by_query = await get(gw, path + "?format=csv", traffic.key)
    assert status == 200
    status, by_accept = await get(gw, path, traffic.key, Accept="text/csv")
    assert status == 200 and by_accept == by_query
    assert csv_figures(by_query) == json_figures(s)
    admin_path = f"/admin/v1/accounts/{traffic.account_id}/statements/{traffic.month}"
    assert (await get(gw, admin_path, ADMIN_KEY))[1] == s


async def test_bad_months_and_unknown_accounts_are_refused(gw: Gateway, traffic: OrgMonth) -> None:
    future = str(month_of(datetime.now(UTC)).next())
    for month in ("2026-13", "nope", "1999-12", future):
        status, err = await get(gw, f"/v1/account/statements/{month}", traffic.key)
        assert (status, err["error"]["param"]) == (400, "month"), err
    status, err = await get(gw, f"/v1/account/statements/{traffic.month}?format=pdf", traffic.key)
    assert (status, err["error"]["param"]) == (400, "format")
    status, err = await get(
        gw, f"/admin/v1/accounts/acct_none/statements/{traffic.month}", ADMIN_KEY
    )
    assert status == 404, err


async def test_roles_read_statements_as_documented(gw: Gateway, traffic: OrgMonth) -> None:
    path = f"/v1/account/statements/{traffic.month}"
    for role in READERS:
        status, s = await get(gw, path, token(traffic.account_id, role))
        assert (status, s["account_id"]) == (200, traffic.account_id), (role, s)
    for role in NOT_READERS:
        status, err = await get(gw, path, token(traffic.account_id, role))
        assert status == 403 and "statements:read" in err["error"]["message"], (role, err)
    # An owner of another organization reads only their own (empty) statement, and the
    # operator's route for this one is not theirs to call.
    other = await tenant(gw, credit=0)
    outsider = token(other.account_id, "owner")
    status, theirs = await get(gw, path, outsider)
    assert status == 200 and theirs["account_id"] == other.account_id
    assert theirs["usage"]["by_model"] == [] and traffic.account_id not in str(theirs)
    admin_path = f"/admin/v1/accounts/{traffic.account_id}/statements/{traffic.month}"
    assert (await get(gw, admin_path, outsider))[0] == 403


async def test_the_cli_prints_the_statement_both_sides(
    gw: Gateway, traffic: OrgMonth, tmp_path: Path
) -> None:
    _status, s = await get(gw, f"/v1/account/statements/{traffic.month}", traffic.key)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "admin", "statement", traffic.account_id,
                         "--month", traffic.month)  # fmt: skip
    assert run.code == 0, run.err
    assert f"Statement of {traffic.account_id} for {traffic.month}" in run.out
    closing = next(x for x in run.out.splitlines() if x.startswith("closing balance"))
    assert closing.endswith(usd_line(s["closing_balance_micros"]))
    assert "research" in run.out and "promotional" in run.out
    run = await meterway(gw, tmp_path, "admin", "statement", traffic.account_id,
                         "--month", traffic.month, "--csv")  # fmt: skip
    assert run.code == 0 and csv_figures(run.out) == json_figures(s), run.err

    login(tmp_path, traffic.key)
    run = await meterway(gw, tmp_path, "billing", "statement", "--month", traffic.month, "--json")
    assert run.code == 0, run.err
    printed = json.loads(run.out)
    # The sealer may have sealed a newer checkpoint since (every LEDGER_SEAL_EVERY_S): the
    # statement names the latest, the rest is the same statement.
    seal, then = printed.pop("ledger_checkpoint"), s.pop("ledger_checkpoint")
    assert printed == s
    assert then is None or seal["seq"] >= then["seq"]
    run = await meterway(gw, tmp_path, "billing", "statement", "--month", "2026-13")
    assert run.code != 0 and "2026-13" in run.err


async def test_the_dashboard_statement_prints(gw: Gateway, traffic: OrgMonth, page: Page) -> None:
    _status, s = await get(gw, f"/v1/account/statements/{traffic.month}", traffic.key)
    errors: list[str] = []

    def console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await sign_in(page, traffic.key)
    answer = await page.goto("/dashboard/statements")
    assert answer is not None and answer.status == 200
    assert page.url.endswith(f"/dashboard/statements/{traffic.month}")
    assert "script-src 'self'" in (answer.headers.get("content-security-policy") or "")
    assert await page.text_content("#closing") == usd_line(s["closing_balance_micros"])
    assert await page.text_content("#opening") == usd_line(s["opening_balance_micros"])
    assert "research" in (await page.text_content("#usage-by_team") or "")
    assert await unlabelled(page) == [] and await low_contrast(page) == []
    await screenshots(page, "statement")
    await page.emulate_media(media="print")
    assert not await page.is_visible("header.top") and not await page.is_visible("#month")
    assert await page.is_visible("#statement-summary")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = await page.pdf(path=str(ARTIFACTS / "statement.pdf"))
    assert pdf.startswith(b"%PDF")
    await page.emulate_media(media="screen")

    previous = str(Month(*map(int, traffic.month.split("-"))).previous())
    await page.fill("#month", previous)
    await page.click("form[aria-label='Pick a month'] button[type=submit]")
    await page.wait_for_load_state()
    assert page.url.endswith(f"/dashboard/statements/{previous}")
    assert await page.text_content("#statement-status") == "final"
    assert errors == []


async def test_the_dashboard_statement_is_refused_to_a_viewer(
    gw: Gateway, traffic: OrgMonth
) -> None:
    cookies, _ = await member_session(gw, traffic.account_id, "viewer")
    url = f"{gw.url}/dashboard/statements/{traffic.month}"
    async with gw.http.get(url, cookies=cookies, allow_redirects=False) as r:
        assert r.status == 403
    cookies, _ = await member_session(gw, traffic.account_id, "billing")
    async with gw.http.get(url, cookies=cookies, allow_redirects=False) as r:
        assert (r.status, r.content_type) == (200, "text/html")


async def test_an_operator_reads_an_accounts_statement_on_its_page(
    gw: Gateway, traffic: OrgMonth, page: Page
) -> None:
    status, s = await get(
        gw, f"/admin/v1/accounts/{traffic.account_id}/statements/{traffic.month}", ADMIN_KEY
    )
    assert status == 200
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{traffic.account_id}")
    await page.click("#statements-link")
    await page.wait_for_url(f"**/operators/accounts/{traffic.account_id}/statements/*")
    assert page.url.endswith(f"/statements/{traffic.month}")
    assert await page.text_content("#closing") == usd_line(s["closing_balance_micros"])
    async with page.expect_download() as download:
        await page.click("#csv")
    saved = await (await download.value).path()
    got = saved.read_text()
    _status, api_csv = await get(
        gw,
        f"/admin/v1/accounts/{traffic.account_id}/statements/{traffic.month}?format=csv",
        ADMIN_KEY,
    )
    assert got == api_csv
