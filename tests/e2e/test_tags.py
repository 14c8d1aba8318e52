"""Tags for chargeback (issue 63): an operator or an organization's admin tags keys and teams;
each change is audited; bad tags are 400s naming `tags`; another organization's key or team
is not found. Debits settled carry their key's tags (its own over its team's; a retag changes
only later rows), reports group by a tag from the rollups (JSON, CSV, the dashboard's
explorer). FOCUS and ClickHouse: test_focus_export.py and test_analytics_store.py. One
gateway serves the whole module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.test_audit_log import admin as audited
from tests.e2e.test_roles import member_session
from tests.e2e.test_teams import HI, MODEL, second_key
from tests.support.factories import Tenant, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants

ORG_ADMIN = ["chat", "keys:write", "account:read", "usage:read", "org:write"]


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway
        await gateway.settle_all()


async def new_team(gw: Gateway, account_id: str, name: str = "research") -> dict[str, Any]:
    path = f"/admin/v1/accounts/{account_id}/teams"
    status, team = await gw.admin("POST", path, {"name": name})
    assert status == 201, team
    return dict(team)


async def as_account(gw: Gateway, t: Tenant, path: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.put(gw.url + path, json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_operator_tags_keys_and_teams_each_change_audited(gw: Gateway) -> None:
    t = await tenant(gw)
    team = await new_team(gw, t.account_id)
    assert team["tags"] == {}
    body = {"tags": {"cost_center": "cc-7", "project": "apollo"}}
    after, rec = await audited(gw, "team.tags", "PUT", f"/admin/v1/teams/{team['id']}/tags", body)
    assert after["tags"] == body["tags"] and after["object"] == "team"
    assert (rec["before"]["tags"], rec["after"]["tags"]) == ({}, body["tags"])
    own = {"tags": {"cost_center": "cc-9"}}
    key, rec = await audited(gw, "key.tags", "PUT", f"/admin/v1/keys/{t.key_id}/tags", own)
    assert key["tags"] == own["tags"] and key["object"] == "api_key"
    assert rec["target_id"] == t.key_id and rec["after"]["tags"] == own["tags"]
    status, listed = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/teams")
    assert status == 200 and listed["data"][0]["tags"] == body["tags"]
    status, keys = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/keys")
    assert status == 200 and keys["data"][0]["tags"] == own["tags"], keys


@pytest.mark.parametrize(
    "tags",
    [
        None,
        ["cost_center"],
        {"Cost": "x"},
        {"a": ""},
        {"a": "x" * 101},
        {"a": "tab\there"},
        {f"t{i}": "v" for i in range(11)},
    ],
)
async def test_bad_tags_are_a_400_naming_the_field(gw: Gateway, tags: Any) -> None:
    t = await tenant(gw, scopes=ORG_ADMIN)
    team = await new_team(gw, t.account_id)
    for path in (f"/admin/v1/keys/{t.key_id}/tags", f"/admin/v1/teams/{team['id']}/tags"):
        status, body = await gw.admin("PUT", path, {"tags": tags})
        assert status == 400, body
        assert (body["error"]["code"], body["error"]["param"]) == ("invalid_request", "tags")
    status, body = await as_account(gw, t, f"/v1/account/keys/{t.key_id}/tags", {"tags": tags})
    assert (status, body["error"]["param"]) == (400, "tags"), body


async def test_an_org_admin_tags_its_own_keys_and_teams_only(gw: Gateway) -> None:
    mine, theirs = await tenant(gw, scopes=ORG_ADMIN), await tenant(gw)
    my_team, their_team = await new_team(gw, mine.account_id), await new_team(gw, theirs.account_id)
    tags = {"tags": {"cost_center": "cc-1"}}
    status, key = await as_account(gw, mine, f"/v1/account/keys/{mine.key_id}/tags", tags)
    assert (status, key["tags"]) == (200, tags["tags"]), key
    status, team = await as_account(gw, mine, f"/v1/account/teams/{my_team['id']}/tags", tags)
    assert (status, team["tags"]) == (200, tags["tags"]), team
    for path in (
        f"/v1/account/keys/{theirs.key_id}/tags",
        f"/v1/account/teams/{their_team['id']}/tags",
    ):
        status, body = await as_account(gw, mine, path, tags)
        assert status == 404, body
    status, body = await gw.admin("PUT", "/admin/v1/keys/key_nope/tags", tags)
    assert status == 404, body
    plain = await tenant(gw)  # a key without org:write
    status, body = await as_account(gw, plain, f"/v1/account/keys/{plain.key_id}/tags", tags)
    assert status == 403, body


async def test_the_cli_sets_tags(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw)
    team = await new_team(gw, t.account_id)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(
        gw, tmp_path, "admin", "team-tags", team["id"], "cost_center=cc-3", "project=x"
    )
    assert run.code == 0 and "cost_center=cc-3 project=x" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "key-tags", t.key_id, "cost_center=cc-4")
    assert run.code == 0 and "cost_center=cc-4" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "key-tags", t.key_id)
    assert run.code == 0 and "no tags" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "key-tags", t.key_id, "Bad=1")
    assert run.code != 0 and "Tag name" in run.err, run


async def chat(gw: Gateway, t: Tenant) -> None:
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=5)


async def debit_tags(gw: Gateway, account_id: str) -> list[Any]:
    """The tags of the account's debits, oldest first."""
    status, page = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/ledger?kind=debit")
    assert status == 200, page
    return [e["tags"] for e in reversed(page["data"])]


async def test_debits_carry_the_keys_tags_and_a_retag_changes_only_later_rows(
    gw: Gateway,
) -> None:
    a = await tenant(gw)
    b = await second_key(gw, a)
    team = await new_team(gw, a.account_id)
    for key in (a, b):
        status, _ = await gw.admin(
            "PUT", f"/admin/v1/keys/{key.key_id}/team", {"team_id": team["id"]}
        )
        assert status == 200
    await chat(gw, a)  # before any tag
    await gw.settle_all()
    team_tags = {"cost_center": "cc-team", "project": "apollo"}
    await gw.admin("PUT", f"/admin/v1/teams/{team['id']}/tags", {"tags": team_tags})
    await gw.admin("PUT", f"/admin/v1/keys/{a.key_id}/tags", {"tags": {"cost_center": "cc-a"}})
    await chat(gw, a)
    await chat(gw, b)
    await gw.settle_all()
    await gw.admin("PUT", f"/admin/v1/keys/{a.key_id}/tags", {"tags": {"cost_center": "cc-new"}})
    await chat(gw, a)
    await gw.settle_all()
    tags = await debit_tags(gw, a.account_id)
    assert tags == [
        None,
        {"cost_center": "cc-a", "project": "apollo"},  # the key's own over its team's
        team_tags,
        {"cost_center": "cc-new", "project": "apollo"},  # the retag: only the later row
    ], tags
    await check_invariants(gw.stores(), [a.account_id])


async def report(gw: Gateway, account_id: str, query: str) -> tuple[int, Any]:
    path = f"/admin/v1/accounts/{account_id}/usage/report?{query}"
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
        return r.status, await (r.text() if r.content_type == "text/csv" else r.json())


async def tagged_traffic(gw: Gateway) -> Tenant:
    """Key a (own cost center, in a tagged team) twice, key b (the team's tags) once, key c
    (no team, no tags) once."""
    a = await tenant(gw)
    b, c = await second_key(gw, a), await second_key(gw, a)
    team = await new_team(gw, a.account_id)
    for key in (a, b):
        await gw.admin("PUT", f"/admin/v1/keys/{key.key_id}/team", {"team_id": team["id"]})
    team_tags = {"cost_center": "cc-team", "project": "apollo"}
    await gw.admin("PUT", f"/admin/v1/teams/{team['id']}/tags", {"tags": team_tags})
    await gw.admin("PUT", f"/admin/v1/keys/{a.key_id}/tags", {"tags": {"cost_center": "cc-a"}})
    for key in (a, a, b, c):
        await chat(gw, key)
    await gw.settle_all()
    return a


async def test_reports_group_by_a_tag_from_the_rollups(gw: Gateway) -> None:
    a = await tagged_traffic(gw)
    status, whole = await report(gw, a.account_id, "group_by=day")
    assert status == 200, whole
    status, by_cc = await report(gw, a.account_id, "group_by=tag:cost_center")
    assert status == 200 and by_cc["group_by"] == "tag:cost_center", by_cc
    requests = {r["tag:cost_center"]: r["requests"] for r in by_cc["data"]}
    assert requests == {"": 1, "cc-a": 2, "cc-team": 1}, by_cc
    assert by_cc["totals"] == whole["totals"]
    status, by_project = await report(gw, a.account_id, "group_by=tag:project&model=" + MODEL)
    assert {r["tag:project"]: r["requests"] for r in by_project["data"]} == {"": 1, "apollo": 3}
    status, by_none = await report(gw, a.account_id, "group_by=tag:nothing_here")
    assert [(r["tag:nothing_here"], r["requests"]) for r in by_none["data"]] == [("", 4)]
    status, text = await report(gw, a.account_id, "group_by=tag:cost_center&format=csv")
    lines = text.splitlines()
    assert status == 200 and lines[0].startswith("account_id,tag:cost_center,requests,"), text
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["", "cc-a", "cc-team"]
    for query in ("group_by=tag:Bad", "group_by=tag:", "group_by=tag:cost_center&end_user=u1"):
        status, body = await report(gw, a.account_id, query)
        assert (status, body["error"]["param"]) == (400, "group_by"), (query, body)


async def test_the_dashboard_explorer_offers_and_groups_by_the_accounts_tags(gw: Gateway) -> None:
    a = await tagged_traffic(gw)
    cookies, _ = await member_session(gw, a.account_id, "admin")
    async with gw.http.get(f"{gw.url}/dashboard/usage", cookies=cookies) as r:
        page = await r.text()
    assert r.status == 200 and "<option>tag:cost_center</option>" in page, page
    assert "<option>tag:project</option>" in page
    url = f"{gw.url}/dashboard/usage?group_by=tag:cost_center"
    async with gw.http.get(url, cookies=cookies) as r:
        page = await r.text()
    assert r.status == 200 and "cc-team" in page and "cc-a" in page, page


async def test_a_rotated_key_keeps_its_tags(gw: Gateway) -> None:
    t = await tenant(gw)
    await gw.admin("PUT", f"/admin/v1/keys/{t.key_id}/tags", {"tags": {"project": "p"}})
    status, rotated = await gw.admin("POST", f"/admin/v1/keys/{t.key_id}/rotate", {})
    assert status == 201 and rotated["id"] != t.key_id, rotated
    assert rotated["tags"] == {"project": "p"}
