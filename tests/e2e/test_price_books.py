"""Price books end to end (issue 72): a 20%-off book on one model family, proposed with its
preview, approved and dated as any price change, bills through the real proxy with the
official OpenAI SDK: the answer's cost and `x-meterway-cost-micros` are the customer's
price, the ledger keeps the provider's (list) cost and the margin for the operator alone,
`meterway prices explain` names the book and the rule of each dimension, a plan's book
reaches its accounts, a book that cannot price exactly is refused by name, and the ledger
sums to every balance.

One database for the module's gateway: an approved book is installed by every gateway that
reads the database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import balance, debits, openai_client, tenant
from tests.support.harness import (
    ADMIN_KEY,
    Gateway,
    config_dir_with,
    running_gateway,
    temp_database,
)
from tests.support.invariants import check_invariants

HOUSE = """
[models."house-4o"]
provider = "openai"
max_output_tokens = 4096
input = "2.50"
output = "10.00"

[models."house-4o-mini"]
provider = "openai"
max_output_tokens = 4096
input = "1.00"
output = "2.00"

[models."other-chat"]
provider = "openai"
max_output_tokens = 4096
input = "1.00"
output = "2.00"

[models."odd-chat"]
provider = "openai"
max_output_tokens = 4096
input = "0.12346"
output = "2.00"
"""
MESSAGES: Any = [{"role": "user", "content": "price me"}]
REVIEW_ENV = {"PRICE_CHANGE_LEAD_S": "1", "PRICE_CHANGE_POLL_S": "0.2"}
SCOPES = ["chat", "usage:read", "account:read"]
TWENTY_OFF = {"rules": [{"family": "house-4o", "adjust_bps": -2000}], "note": "20% off 4o"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with temp_database() as dsn:
        config = config_dir_with(tmp_path, pricing=HOUSE)
        async with running_gateway(dsn, None, MW_CONFIG_DIR=str(config), **REVIEW_ENV) as gw:
            yield gw
            await gw.settle_all()


def behaviour(prompt: int, completion: int) -> dict[str, str]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {"x-fake-behaviour": json.dumps({"usage": usage})}


async def chat(gw: Gateway, key: str, model: str, prompt: int, completion: int) -> tuple[str, int]:
    """The request id and the cost, as the answer's header and its usage both say."""
    async with openai_client(gw, key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES, max_tokens=1000,
            extra_headers=behaviour(prompt, completion),
        )  # fmt: skip
    answer = raw.parse()
    cost = int(raw.headers["x-meterway-cost-micros"])
    assert answer.usage is not None and answer.usage.model_dump()["cost_micros"] == cost
    return raw.headers["x-request-id"], cost


async def approved(gw: Gateway, body: dict[str, Any], seconds: float = 2.0) -> dict[str, Any]:
    """Propose, approve (naming the move when asked), and wait until it is in force."""
    effective = datetime.now(UTC) + timedelta(seconds=seconds)
    body = {**body, "effective_at": effective.isoformat()}
    status, change = await gw.admin("POST", "/admin/v1/prices/changes", body)
    assert status == 201, change
    path = f"/admin/v1/prices/changes/{change['id']}/approve"
    status, done = await gw.admin("POST", path, {"confirm": change["largest_move_percent"]})
    assert status == 200 and done["status"] == "approved", done
    await asyncio.sleep(max(0.0, effective.timestamp() + 0.5 - time.time()))
    return dict(change)


async def explain(gw: Gateway, request_id: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": gw.settings.database_url,
        "REDIS_URL": gw.settings.redis_url,
        "REDIS_PREFIX": gw.settings.redis_prefix,
        "ADMIN_API_KEY": ADMIN_KEY,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "prices", "explain", request_id,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, out
    return out


async def test_a_twenty_percent_off_book_on_one_family_bills_end_to_end(gw: Gateway) -> None:
    a = await tenant(gw, scopes=SCOPES)
    b = await tenant(gw)
    # 1234 x $1.00/M + 567 x $2.00/M = 2,368 micros at list.
    assert (await chat(gw, a.key, "house-4o-mini", 1234, 567))[1] == 2368
    await gw.settle_all()  # the preview reads the ledger
    body = {"books": {"family-20": TWENTY_OFF}, "assign": {"accounts": {a.account_id: "family-20"}}}
    change = await approved(gw, body)
    [previewed] = change["preview"]["accounts"]  # b has no book: nothing of it moves
    assert previewed["account_id"] == a.account_id
    assert (previewed["before_micros"], previewed["after_micros"]) == (2368, 1895)
    assert any(line.startswith("+ book family-20") for line in change["diff"])
    assert f"~ account {a.account_id}: book none -> family-20" in change["diff"]

    rid, cost = await chat(gw, a.key, "house-4o-mini", 1234, 567)
    assert cost == 1895  # 2,368 less 20% = 1,894.4, rounded up once
    assert (await chat(gw, a.key, "house-4o", 1000, 500))[1] == 6000  # 7,500 less 20%
    assert (await chat(gw, a.key, "other-chat", 1234, 567))[1] == 2368  # not of the family
    assert (await chat(gw, b.key, "house-4o-mini", 1234, 567))[1] == 2368  # no book
    await gw.settle_all()

    rows = {r["request_id"]: r for r in await debits(gw, a.account_id)}
    row = rows[rid]
    assert (row["charged_micros"], row["provider_cost_micros"]) == (1895, 2368)
    assert row["usage_detail"]["book"] == f"family-20@{change['id']}"
    status, entries = await gw.admin("GET", f"/admin/v1/accounts/{a.account_id}/ledger")
    assert status == 200, entries
    [entry] = [e for e in entries["data"] if e.get("request_id") == rid]
    assert entry["gross_margin_micros"] == 1895 - 2368  # the operator sees the margin per call
    report = f"/admin/v1/accounts/{a.account_id}/usage/report?group_by=model"
    status, by_model = await gw.admin("GET", report)
    assert status == 200, by_model
    margins = {m["model"]: m["gross_margin_micros"] for m in by_model["data"]}
    assert margins["house-4o-mini"] == 1895 - 2368 and margins["other-chat"] == 0

    for path in (
        "/v1/account/ledger",
        "/v1/account/usage?group_by=model",
        "/v1/account/usage?group_by=model&format=csv",
    ):
        async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {a.key}"}) as r:
            assert r.status == 200, await r.text()
            text = await r.text()
        assert "provider_cost_micros" not in text and "gross_margin_micros" not in text, path

    out = await explain(gw, rid)
    assert f"price book family-20@{change['id']}" in out
    assert "input_mtok" in out and "family house-4o, every dimension: -2000 bps over list" in out
    assert "0.800000 USD per 1M tokens (list 1.000000)" in out
    assert "rounded up once: 1,895 micros" in out

    status, books = await gw.admin("GET", "/admin/v1/prices/books")
    assert status == 200, books
    [book] = books["data"]
    said = (book["name"], book["status"], book["version"])
    assert said == ("family-20", "in_force", change["id"])
    assert books["assignments"][0]["id"] == a.account_id
    assert await balance(gw, a.account_id) == 10_000_000 - 2368 - 1895 - 6000 - 2368
    await check_invariants(gw.stores(), [a.account_id, b.account_id])


async def test_a_plan_book_reaches_its_accounts_and_an_account_book_wins(gw: Gateway) -> None:
    on_plan, own = await tenant(gw, plan="starter"), await tenant(gw, plan="starter")
    ten_off = {"rules": [{"family": "other-chat", "adjust_bps": -1000}]}
    dear = {"rules": [{"model": "other-chat", "adjust_bps": 2000}]}
    books = {"plan-10": ten_off, "dear": dear}
    assign = {"plans": {"starter": "plan-10"}, "accounts": {own.account_id: "dear"}}
    await approved(gw, {"books": books, "assign": assign})
    assert (await chat(gw, on_plan.key, "other-chat", 1234, 567))[1] == 2132  # 2,131.2 up
    # A markup book reserves at its own worst case, never the list's: the call is billed
    # 20% over list and the ledger still sums to the balance.
    assert (await chat(gw, own.key, "other-chat", 1234, 567))[1] == 2842  # 2,841.6 up
    await gw.settle_all()
    await check_invariants(gw.stores(), [on_plan.account_id, own.account_id])


async def test_a_book_that_cannot_price_exactly_or_names_no_book_is_refused(gw: Gateway) -> None:
    ahead = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    for body, said in (
        (
            {"books": {"odd": {"rules": [{"family": "odd-chat", "adjust_bps": -3}]}}},
            "book odd@0: odd-chat input at -3 bps over the list rate of 123460",
        ),
        ({"books": {"odd": {"adjust_bps": -3}}}, "is not a whole micro-dollar"),
        ({"assign": {"accounts": {"acct_x": "ghost"}}}, "book 'ghost' is not defined"),
        ({"books": {"b": {"parent": "ghost"}}}, "book 'ghost' is not defined"),
        ({"books": {"b": {"rules": [{"family": "x", "rate": "1"}]}}}, "names one dimension"),
        ({"books": {"b": {}}, "models": {"house-4o": {"input": "1"}}}, "not both"),
    ):
        status, refused = await gw.admin(
            "POST", "/admin/v1/prices/changes", {**body, "effective_at": ahead}
        )
        assert status == 400 and said in refused["error"]["message"], (body, refused)


async def test_a_rule_that_prices_nothing_is_refused_by_name(gw: Gateway) -> None:
    """A per-call fee on a model whose list card has none, a model nobody serves, a rule a
    more specific one of its book always beats: each would be shown in force and bill
    nothing, so the book is refused when proposed, naming the rule."""
    ahead = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    fee = {"model": "house-4o-mini", "dimension": "request", "rate": "1.00"}
    beaten = {"family": "house-4o", "dimension": "input", "adjust_bps": -500}
    for rules, said in (
        ([fee], "book fee@0: rule 1 (model house-4o-mini, request"),
        ([{"family": "house-4o", "adjust_bps": -100}, fee], "book fee@0: rule 2 (model"),
        ([{"model": "no-such-model", "adjust_bps": -100}], "rule 1 (model no-such-model"),
        ([{**beaten, "adjust_bps": -1000}, beaten], "rule 2 (family house-4o, input"),
    ):
        body = {"books": {"fee": {"rules": rules}}, "effective_at": ahead}
        status, refused = await gw.admin("POST", "/admin/v1/prices/changes", body)
        assert status == 400 and said in refused["error"]["message"], (rules, refused)
        assert "prices no call" in refused["error"]["message"]
        assert refused["error"]["param"] == "books"
    status, listed = await gw.admin("GET", "/admin/v1/prices/books")
    assert status == 200 and "fee" not in json.dumps(listed)


async def meterway(gw: Gateway, *args: str) -> tuple[int, str]:
    env = {**os.environ, "METERWAY_ADMIN_KEY": ADMIN_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "prices", *args, "--api-url", gw.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode() + err.decode()


async def test_the_cli_proposes_a_book_from_toml_and_lists_the_books(
    gw: Gateway, tmp_path: Path
) -> None:
    t = await tenant(gw)
    change = tmp_path / "book.toml"
    change.write_text(
        '[books.gold]\nadjust_bps = -2000\nnote = "gold customers"\n'
        '[[books.gold.rules]]\nmodel = "house-4o"\ndimension = "output"\nrate = "9.00"\n'
        f'[assign.accounts]\n"{t.account_id}" = "gold"\n'
    )
    code, out = await meterway(gw, "propose", str(change), "--effective-at", "+1h")
    assert code == 0 and "a price book change" in out, out
    assert "+ book gold: -2000 bps over list for the rest, 1 rules" in out, out
    assert "model house-4o, output: rate 9000000" in out, out
    code, out = await meterway(gw, "approve", "1")
    assert code == 0 and "approved" in out, out
    code, out = await meterway(gw, "books")
    assert code == 0 and "gold@1 scheduled" in out and t.account_id in out, out
