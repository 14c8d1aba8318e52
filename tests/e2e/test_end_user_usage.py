"""Usage by end user: the end user a call names (`user`, Anthropic's `metadata.user_id`, the
`x-meterway-end-user` header winning) is recorded on its debit, and usage reports group and
filter by it through the account API, the operator API, CSV, `meterway admin usage` and the
dashboard's usage page. A call that names none, or an id out of bounds, records none: its
usage is the '' bucket, so every grouping sums to the same total."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import MetadataParam

from billing.contracts.reseller import PRIVATE
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.test_roles import member_session
from tests.support.factories import Tenant, anthropic_client, ledger, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

HI: Any = [{"role": "user", "content": "hi"}]
# (end user sent as `user`, as the header, through Anthropic) -> what the debit records
CALLS: list[tuple[dict[str, Any], str | None]] = [
    ({"user": "alice"}, "alice"),
    ({"user": "alice"}, "alice"),
    ({"user": "bob"}, "bob"),
    ({"user": "alice", "header": "carol"}, "carol"),
    ({}, None),
    ({"user": "not an id"}, None),  # out of bounds, and no budget applies: served, not recorded
    ({"anthropic": "dave"}, "dave"),
]


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway
        await gateway.settle_all()


async def _call(gw: Gateway, t: Tenant, how: dict[str, Any]) -> None:
    if "anthropic" in how:
        async with anthropic_client(gw, t.key) as client:
            meta: MetadataParam = {"user_id": how["anthropic"]}
            await client.messages.create(
                model="claude-3-5-haiku-latest", max_tokens=5, messages=HI, metadata=meta
            )
        return
    headers = {"x-meterway-end-user": how["header"]} if "header" in how else None
    extra = {"user": how["user"]} if "user" in how else {}
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=HI, max_tokens=5, extra_headers=headers, **extra
        )


@pytest.fixture(scope="module")
async def org(gw: Gateway) -> tuple[Tenant, list[dict[str, Any]]]:
    t = await tenant(gw, scopes=["chat", "messages", "usage:read"])
    for how, _ in CALLS:
        await _call(gw, t, how)
    await gw.settle_all()
    return t, [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]


async def _get(gw: Gateway, path: str, bearer: str) -> Any:
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {bearer}"}) as r:
        assert r.status == 200, await r.text()
        return await (r.text() if r.content_type == "text/csv" else r.json())


async def test_each_debit_records_the_end_user_its_call_named(
    org: tuple[Tenant, list[dict[str, Any]]],
) -> None:
    _, debits = org
    recorded = sorted((r["end_user"] or "") for r in debits)
    assert recorded == sorted((want or "") for _, want in CALLS)


async def test_usage_groups_and_filters_by_end_user(
    gw: Gateway, org: tuple[Tenant, list[dict[str, Any]]]
) -> None:
    t, debits = org
    report = await _get(gw, "/v1/account/usage?group_by=end_user", t.key)
    by_user = {r["end_user"]: (r["requests"], r["spend_micros"]) for r in report["data"]}
    assert {u: n for u, (n, _) in by_user.items()} == {
        "": 2, "alice": 2, "bob": 1, "carol": 1, "dave": 1
    }  # fmt: skip
    for user, (_, spend) in by_user.items():
        assert spend == -sum(r["amount_micros"] for r in debits if (r["end_user"] or "") == user)
    by_day = await _get(gw, "/v1/account/usage?group_by=day", t.key)
    assert report["totals"] == by_day["totals"]

    alice = await _get(gw, "/v1/account/usage?group_by=model&end_user=alice", t.key)
    assert [(r["model"], r["requests"]) for r in alice["data"]] == [("gpt-4o-mini", 2)]
    admin = f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=end_user"
    operator = (await _get(gw, admin, ADMIN_KEY))["data"]  # plus the provider's cost and margin
    assert [{k: v for k, v in r.items() if k not in PRIVATE} for r in operator] == report["data"]

    text = await _get(gw, "/v1/account/usage?group_by=end_user&format=csv", t.key)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["end_user"]: int(r["requests"]) for r in rows} == {
        u: n for u, (n, _) in by_user.items()
    }


async def test_the_cli_and_the_dashboard_show_usage_by_end_user(
    gw: Gateway, org: tuple[Tenant, list[dict[str, Any]]], tmp_path: Path
) -> None:
    t, _ = org
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "admin", "usage", t.account_id, "--group-by", "end_user")
    assert run.code == 0, run.err
    lines = {line.split()[0]: line for line in run.out.splitlines()}
    assert {"alice", "bob", "carol", "dave", "total"} <= set(lines)
    assert lines["alice"].split()[1] == "2"
    run = await meterway(gw, tmp_path, "admin", "usage", t.account_id, "--group-by", "model",
                         "--end-user", "bob")  # fmt: skip
    assert run.code == 0 and run.out.splitlines()[1].split()[:2] == ["gpt-4o-mini", "1"], run.out
    run = await meterway(gw, tmp_path, "admin", "usage", t.account_id, "--group-by", "kind",
                         "--kind", "images", "--model", "gpt-4o-mini")  # fmt: skip
    assert run.code == 0 and "tokens" not in run.out, run.out  # no image use: only the total
    run = await meterway(gw, tmp_path, "admin", "usage", t.account_id, "--group-by", "week")
    assert run.code == 0 and len(run.out.splitlines()) == 3, run.out  # header, this week, total
    assert run.out.startswith("WEEK  ")

    cookies, _ = await member_session(gw, t.account_id, "viewer")
    url = f"{gw.url}/dashboard/usage?group_by=end_user"
    async with gw.http.get(url, cookies=cookies) as r:
        page = await r.text()
    assert r.status == 200 and "alice" in page and "No end user named" in page
    async with gw.http.get(f"{url}&end_user=dave", cookies=cookies) as r:
        page = await r.text()
    assert r.status == 200 and "dave" in page and "alice" not in page
