"""GET /v1/account/ledger (and the operator's) filtered by kind, model, key, team and days:
the rows the dashboard's usage explorer shows for the same filters, pages that lose and
repeat nothing under a filter, one 400 per bad parameter; and a request's cost with every
row and the debit's arithmetic as the dashboard's request page prints it."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from billing.contracts.reseller import PRIVATE
from tests.e2e.account.test_account_api import call
from tests.e2e.dashboard.test_dashboard import chat
from tests.e2e.dashboard.test_dashboard_charts import Scene, scene
from tests.support.dashboard_client import page, sign_in
from tests.support.factories import ledger, tenant
from tests.support.harness import Gateway

_EXPLORER_ROW = re.compile(r"<tr><td>[^<]*</td><td>(\w+)</td>\s*<td>(?:<a [^>]*>([^<]*)</a>)?")
_ARITHMETIC = re.compile(r'<pre class="card arithmetic" id="arithmetic">(.*?)</pre>', re.S)


def _day(e: dict[str, Any]) -> date:
    return datetime.fromisoformat(e["occurred_at"]).astimezone(UTC).date()


def _keeps(s: Scene, q: dict[str, str], e: dict[str, Any]) -> bool:
    """The oracle: the filters applied to the whole ledger in Python."""
    team_keys = {s.other_key_id}
    return (
        q.get("kind", e["kind"]) == e["kind"]
        and q.get("model", e["model"]) == e["model"]
        and q.get("key_id", e["key_id"]) == e["key_id"]
        and ("team_id" not in q or e["key_id"] in team_keys)
        and ("from" not in q or _day(e) >= date.fromisoformat(q["from"]))
        and ("to" not in q or _day(e) < date.fromisoformat(q["to"]))
    )


async def _pages(gw: Gateway, key: str, q: dict[str, str], limit: int) -> list[int]:
    """Every page of the filtered ledger; each next_before only when has_more."""
    ids: list[int] = []
    before: dict[str, str] = {}
    while True:
        path = "/v1/account/ledger?" + urlencode({**q, **before, "limit": limit})
        status, body = await call(gw, key, "GET", path)
        assert status == 200, body
        ids += [e["id"] for e in body["data"]]
        assert (body["next_before"] is not None) == body["has_more"]
        if not body["has_more"]:
            return ids
        before = {"before": str(body["next_before"])}


async def _explorer(http: Any, gw: Gateway, q: dict[str, str]) -> list[tuple[str, str]]:
    """(kind, request id) of each entry the explorer lists, its kind field named ledger_kind."""
    fields = {("ledger_kind" if k == "kind" else k): v for k, v in q.items()}
    _, text = await page(http, gw, "/dashboard/usage?" + urlencode(fields))
    table = text[text.index('id="entries"') :]
    return [(k, rid or "") for k, rid in _EXPLORER_ROW.findall(table[: table.index("</table>")])]


async def test_filters_answer_the_explorers_rows_and_page_exactly(gw: Gateway) -> None:
    s = await scene(gw)
    for _ in range(2):  # matching rows between others: pages must skip nothing
        await chat(gw, s.other_key, model="gpt-4o")
        await chat(gw, s.t.key)
    await gw.settle_all()
    everything = await ledger(gw, s.t.account_id)
    today = datetime.now(UTC).date()
    span = {"from": (today - timedelta(days=30)).isoformat(), "to": str(today + timedelta(1))}
    queries = [
        {"kind": "credit"},
        {"kind": "debit", "model": "gpt-4o-mini"},
        {"key_id": s.other_key_id},
        {"team_id": s.team_id, "model": "gpt-4o"},
        {"kind": "debit", "to": (today - timedelta(days=1)).isoformat()},
        {"from": (today - timedelta(days=5)).isoformat(), "kind": "debit"},
    ]
    http, status, _ = await sign_in(gw, s.t.key)
    async with http:
        assert status == 200
        for q in queries:
            want = [e for e in everything if _keeps(s, q, e)]
            assert want, q
            assert await _pages(gw, s.t.key, q, 2) == [e["id"] for e in want], q
            admin = f"/admin/v1/accounts/{s.t.account_id}/ledger?" + urlencode(q)
            status, body = await gw.admin("GET", admin)
            assert [e["id"] for e in body["data"]] == [e["id"] for e in want], q
            shown = await _explorer(http, gw, {**span, **q})
            assert shown == [(e["kind"], e["request_id"] or "") for e in want], q


async def test_a_bad_filter_is_a_400_naming_its_param(gw: Gateway) -> None:
    t = await tenant(gw, scopes=["chat", "account:read"])
    other = await tenant(gw)
    status, team = await gw.admin(
        "POST", f"/admin/v1/accounts/{other.account_id}/teams", {"name": "x", "quotas": []}
    )
    assert status == 201, team
    bad = [
        ("kind=bogus", "kind"),
        ("kind=tokens", "kind"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-02-01&to=2026-02-01", "from"),
        (f"key_id={other.key_id}", "key_id"),  # another account's key: refused, not empty
        ("key_id=key_nope", "key_id"),
        (f"team_id={team['id']}", "team_id"),
        ("limit=ten", "limit"),
        ("limit=0", "limit"),
        ("before=abc", "before"),
    ]
    for query, param in bad:
        status, body = await call(gw, t.key, "GET", f"/v1/account/ledger?{query}")
        assert status == 400, (query, body)
        assert (body["error"]["type"], body["error"]["param"]) == ("invalid_request_error", param)
    status, body = await gw.admin(
        "GET", f"/admin/v1/accounts/{t.account_id}/ledger?key_id={other.key_id}"
    )
    assert status == 400 and body["error"]["param"] == "key_id"


async def test_a_requests_cost_carries_its_rows_and_the_pages_arithmetic(gw: Gateway) -> None:
    s = await scene(gw)
    debit = next(e for e in s.entries if e["model"] == "gpt-4o")
    rid = debit["request_id"]
    status, cost = await call(gw, s.t.key, "GET", f"/v1/account/requests/{rid}")
    assert status == 200, cost
    mine = {k: v for k, v in debit.items() if k not in PRIVATE}  # the operator's, not theirs
    assert {k: cost[k] for k in mine} == mine and cost["object"] == "request_cost"
    assert cost["entries"] == [mine] and not PRIVATE & set(cost)
    http, status, _ = await sign_in(gw, s.t.key)
    async with http:
        _, text = await page(http, gw, f"/dashboard/usage/requests/{rid}")
    shown = _ARITHMETIC.search(text)
    assert shown is not None and cost["arithmetic"]
    assert html.unescape(shown.group(1)) == "\n".join(cost["arithmetic"])
    metered = next(e for e in s.entries if e["meter"] and e["request_id"])
    status, cost = await call(gw, s.t.key, "GET", f"/v1/account/requests/{metered['request_id']}")
    assert status == 200 and cost["arithmetic"] is None and cost["id"] == metered["id"]
