"""The account API with API keys: overview, keys (bounded, rotated, deleted), usage from the
rollups exact to the micro against the ledger, the ledger and one request's cost."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

import openai
import pytest

from tests.support.factories import ledger, openai_client, tenant
from tests.support.harness import Gateway

EVERYTHING = ["chat", "account:read", "usage:read", "keys:write"]


async def call(gw: Gateway, key: str, method: str, path: str, body: Any = None) -> Any:
    async with gw.http.request(
        method, gw.url + path, json=body, headers={"Authorization": f"Bearer {key}"}
    ) as r:
        if r.content_type == "text/csv":
            return r.status, await r.text()
        return r.status, await r.json()


async def chat(gw: Gateway, key: str, model: str = "gpt-4o-mini") -> str:
    async with openai_client(gw, key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=50
        )
    return str(raw.headers["x-request-id"])


async def test_a_proxy_only_key_cannot_read_the_account(gw: Gateway) -> None:
    t = await tenant(gw)
    status, body = await call(gw, t.key, "GET", "/v1/account")
    assert status == 403 and "account:read" in body["error"]["message"]
    status, body = await call(gw, "mw-not-a-key", "GET", "/v1/account")
    assert status == 401


async def test_overview_shows_balance_held_available_and_every_window(gw: Gateway) -> None:
    t = await tenant(gw, scopes=EVERYTHING)
    await chat(gw, t.key)
    await gw.settle_all()
    status, body = await call(gw, t.key, "GET", "/v1/account")
    assert status == 200, body
    assert (body["plan"], body["mode"]) == ("pro", "prepaid")
    assert body["available_micros"] == body["balance_micros"] - body["held_micros"]
    assert body["balance_micros"] < 10_000_000
    requests = next(
        w for w in body["windows"] if (w["window"], w["metric"]) == ("minute", "requests")
    )
    assert (requests["limit"], requests["used"]) == (600, 1)
    assert requests["resets_at"]


async def test_keys_are_never_wider_than_their_creator(gw: Gateway) -> None:
    quota = {"window": "day", "metric": "requests", "limit": 100}
    t = await tenant(gw, scopes=["chat", "keys:write"], models=["gpt-4o-mini"], quotas=[quota])
    ok = {
        "name": "ci",
        "scopes": ["chat"],
        "models": ["gpt-4o-mini"],
        "quotas": [{**quota, "limit": 10}],
    }
    status, created = await call(gw, t.key, "POST", "/v1/account/keys", ok)
    assert status == 201, created
    assert created["key"].startswith("mw-") and created["prefix"] == created["key"][:9]
    too_wide = {
        "scopes": {**ok, "scopes": ["chat", "account:read"]},
        "models": {**ok, "models": ["gpt-4o"]},
        "quotas": {**ok, "quotas": [{**quota, "limit": 1000}]},
    }
    for field, body in too_wide.items():
        status, err = await call(gw, t.key, "POST", "/v1/account/keys", body)
        assert status == 403 and err["error"]["param"] == field, (field, err)
    status, err = await call(gw, t.key, "POST", "/v1/account/keys", {**ok, "scopes": []})
    assert status == 403  # no scopes would mean every endpoint
    await chat(gw, created["key"])


async def test_list_shows_use_and_delete_stops_the_key(gw: Gateway) -> None:
    t = await tenant(gw, scopes=EVERYTHING)
    status, child = await call(
        gw, t.key, "POST", "/v1/account/keys", {"name": "child", "scopes": ["chat"]}
    )
    assert status == 201, child
    await chat(gw, child["key"])
    await gw.settle_all()
    spent = -sum(
        r["amount_micros"] for r in await ledger(gw, t.account_id) if r["key_id"] == child["id"]
    )
    status, listed = await call(gw, t.key, "GET", "/v1/account/keys")
    assert status == 200
    row = next(k for k in listed["data"] if k["id"] == child["id"])
    assert row["last_used_at"] and row["spend_this_month_micros"] == spent > 0
    assert "key" not in row  # the secret is shown once, at creation
    status, _ = await call(gw, t.key, "DELETE", f"/v1/account/keys/{child['id']}")
    assert status == 200
    with pytest.raises(openai.AuthenticationError):
        await chat(gw, child["key"])
    _, listed = await call(gw, t.key, "GET", "/v1/account/keys")
    assert child["id"] not in {k["id"] for k in listed["data"]}
    other = await tenant(gw)
    status, _ = await call(gw, t.key, "DELETE", f"/v1/account/keys/{other.key_id}")
    assert status == 404  # someone else's key does not exist for you


async def test_rotation_keeps_the_old_secret_for_the_grace_period(gw: Gateway) -> None:
    t = await tenant(gw, scopes=EVERYTHING)
    _, child = await call(
        gw, t.key, "POST", "/v1/account/keys", {"name": "svc", "scopes": ["chat"]}
    )
    status, rotated = await call(
        gw, t.key, "POST", f"/v1/account/keys/{child['id']}/rotate", {"grace_seconds": 600}
    )
    assert status == 201, rotated
    assert rotated["key"] != child["key"] and rotated["rotated_from"] == child["id"]
    assert rotated["scopes"] == ["chat"] and rotated["previous"]["expires_at"]
    await chat(gw, child["key"])  # still inside the grace period
    await chat(gw, rotated["key"])
    await gw.advance_clock(601_000)
    with pytest.raises(openai.AuthenticationError):
        await chat(gw, child["key"])
    await chat(gw, rotated["key"])


async def _usage(gw: Gateway, key: str, group_by: str, fmt: str = "json") -> Any:
    status, body = await call(gw, key, "GET", f"/v1/account/usage?group_by={group_by}&format={fmt}")
    assert status == 200, body
    return body


async def test_usage_matches_the_ledger_to_the_micro(gw: Gateway) -> None:
    t = await tenant(gw, scopes=EVERYTHING)
    _, child = await call(gw, t.key, "POST", "/v1/account/keys", {"name": "b", "scopes": ["chat"]})
    for key, model in [(t.key, "gpt-4o-mini"), (t.key, "gpt-4o"), (child["key"], "gpt-4o")] * 3:
        await chat(gw, key, model)
    await gw.settle_all()
    debits = [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
    expect: dict[str, dict[str, int]] = {"model": defaultdict(int), "key": defaultdict(int)}
    for r in debits:
        expect["model"][r["model"]] -= r["amount_micros"]
        expect["key"][r["key_id"]] -= r["amount_micros"]
    for group in ("model", "key"):
        body = await _usage(gw, t.key, group)
        assert {row[group]: row["spend_micros"] for row in body["data"]} == expect[group]
    day = await _usage(gw, t.key, "day")
    assert day["totals"]["spend_micros"] == -sum(r["amount_micros"] for r in debits)
    assert day["totals"]["requests"] == len(debits) == 9
    assert day["totals"]["output_tokens"] == sum(r["output_tokens"] for r in debits)
    table = list(csv.DictReader(io.StringIO(await _usage(gw, t.key, "model", "csv"))))
    assert {r["model"]: int(r["spend_micros"]) for r in table} == expect["model"]
    status, admin_view = await gw.admin(
        "GET", f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=key"
    )
    assert status == 200
    assert {row["key"]: row["spend_micros"] for row in admin_view["data"]} == expect["key"]


async def test_ledger_pages_and_one_requests_cost(gw: Gateway) -> None:
    t = await tenant(gw, scopes=EVERYTHING)
    rids = [await chat(gw, t.key) for _ in range(3)]
    await gw.settle_all()
    seen: list[int] = []
    path = "/v1/account/ledger?limit=2"
    while True:
        status, page = await call(gw, t.key, "GET", path)
        assert status == 200, page
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        path = f"/v1/account/ledger?limit=2&before={page['next_before']}"
    assert len(seen) == 4 and seen == sorted(seen, reverse=True)  # 3 debits and the credit
    status, cost = await call(gw, t.key, "GET", f"/v1/account/requests/{rids[1]}")
    assert status == 200 and cost["request_id"] == rids[1] and cost["amount_micros"] < 0
    other = await tenant(gw, scopes=EVERYTHING)
    status, _ = await call(gw, other.key, "GET", f"/v1/account/requests/{rids[1]}")
    assert status == 404


async def test_admin_finds_accounts_by_name_external_id_and_plan(gw: Gateway) -> None:
    status, acct = await gw.admin(
        "POST",
        "/admin/v1/accounts",
        {"name": "Zebra_Co 42", "plan": "starter", "external_id": "z|42"},
    )
    assert status == 201, acct
    for query in ("q=zebra_co", "q=z%7C42", f"q={acct['id']}", "q=ZEBRA&plan=starter"):
        status, found = await gw.admin("GET", f"/admin/v1/accounts?{query}")
        assert status == 200 and [a["id"] for a in found["data"]] == [acct["id"]], query
    status, found = await gw.admin("GET", "/admin/v1/accounts?q=zebra&plan=pro")
    assert found["data"] == []
    status, keys = await gw.admin("GET", f"/admin/v1/accounts/{acct['id']}/keys")
    assert status == 200 and keys["data"] == []
