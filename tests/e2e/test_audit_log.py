"""The audit log (issue 45, item 12): every change of authority or money writes exactly one
append-only record saying who, what, the target, before and after (no secret), the request
id and the client's address; the database refuses to change or remove one; an owner reads
only their organization's records, everyone else of the organization gets 403, the operator
reads all."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.http.appkeys import DASHBOARD_SESSIONS
from gateway.http.dashboard.people.session import COOKIE, digest
from gateway.stores.postgres.proof.audit import AuditLog
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.test_idempotency_keys import operator_cookies
from tests.e2e.test_roles import call, token
from tests.support.billing_client import biller
from tests.support.factories import tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

HOUR = [{"window": "hour", "metric": "requests", "limit": 5}]


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLE_CLAIM_ENV) as gateway:
        yield gateway
        await gateway.settle_all()


async def records(gw: Gateway, account_id: str | None = None) -> list[dict[str, Any]]:
    """Every record (of an account), oldest first, read straight from the table."""
    rows = await gw.stores().pool.fetch(
        "SELECT * FROM audit_log WHERE $1::text IS NULL OR account_id = $1 ORDER BY id",
        account_id,
    )
    out = []
    for r in rows:
        row = dict(r)
        for side in ("before", "after"):
            row[side] = None if row[side] is None else json.loads(row[side])
        out.append(row)
    return out


async def last_id(gw: Gateway) -> int:
    return int(await gw.stores().pool.fetchval("SELECT coalesce(max(id), 0) FROM audit_log"))


async def one_record(gw: Gateway, since: int, action: str) -> dict[str, Any]:
    """The one record written since `since`, which must be `action`'s."""
    rows = [r for r in await records(gw) if r["id"] > since]
    assert [r["action"] for r in rows] == [action], rows
    return rows[0]


async def admin(gw: Gateway, action: str, method: str, path: str, body: Any = None) -> Any:
    since = await last_id(gw)
    status, answer = await gw.admin(method, path, body)
    assert status < 300, (status, answer)
    record = await one_record(gw, since, action)
    assert (record["actor_kind"], record["actor_id"], record["actor_via"]) == (
        "operator", "admin key", "admin key"
    )  # fmt: skip
    assert record["request_id"] and record["client_address"] == "127.0.0.1", record
    return answer, record


async def test_each_operator_change_writes_one_record(gw: Gateway) -> None:
    _, made = await admin(gw, "account.create", "POST", "/admin/v1/accounts", {"name": "org"})
    acct = made["target_id"]
    assert made["after"]["plan"] and made["before"] is None
    base = f"/admin/v1/accounts/{acct}"
    key, rec = await admin(
        gw, "key.create", "POST", "/admin/v1/keys", {"account_id": acct, "name": "k"}
    )
    assert (rec["target_kind"], rec["target_id"], rec["account_id"]) == ("key", key["id"], acct)
    assert key["key"] not in json.dumps(rec["after"]) and "key" not in rec["after"]
    _, rec = await admin(
        gw, "key.quotas", "PUT", f"/admin/v1/keys/{key['id']}/quotas", {"quotas": HOUR}
    )
    assert rec["before"]["quotas"] == [] and rec["after"]["quotas"] != []
    _, rec = await admin(gw, "account.plan", "PUT", base + "/plan", {"plan": "enterprise"})
    assert rec["after"]["plan"] == "enterprise" and rec["before"]["plan"] != "enterprise"
    change, rec = await admin(gw, "account.markup", "PUT", base + "/markup", {"markup_bps": 1500})
    assert rec["after"] == {
        "markup_bps": 1500, "effective_at": change["effective_at"], "price_change": change["id"]
    }  # fmt: skip
    credit = {"amount_micros": 2_500_000, "idempotency_key": "c1", "grant": {"kind": "promotional"}}
    answer, rec = await admin(gw, "credit.create", "POST", base + "/credits", credit)
    assert (rec["target_kind"], rec["target_id"]) == ("ledger_entry", str(answer["entry_id"]))
    assert (
        rec["after"]["amount_micros"] == 2_500_000
        and rec["after"]["grant"]["kind"] == "promotional"
    )
    since = await last_id(gw)
    assert (await gw.admin("POST", base + "/credits", credit))[0] == 200  # a replay: no change
    assert await last_id(gw) == since
    adjust = {"amount_micros": -500_000, "idempotency_key": "a1", "reason": "fix"}
    _, rec = await admin(gw, "adjustment.create", "POST", base + "/adjustments", adjust)
    assert rec["after"]["reason"] == "fix"
    _, grants = await gw.admin("GET", base + "/grants")
    grant = grants["data"][0]["id"]
    _, rec = await admin(gw, "grant.revoke", "POST", f"{base}/grants/{grant}/revoke")
    assert (rec["before"]["status"], rec["after"]["status"]) == ("active", "revoked")
    since = await last_id(gw)
    assert (await gw.admin("POST", f"{base}/grants/{grant}/revoke"))[0] == 200  # no change
    assert await last_id(gw) == since
    body = {"email": f"p-{secrets.token_hex(3)}@example.com", "role": "viewer"}
    member, rec = await admin(gw, "member.invite", "POST", base + "/members", body)
    _, rec = await admin(
        gw, "member.role", "PUT", f"{base}/members/{member['id']}/role", {"role": "admin"}
    )
    assert (rec["before"]["role"], rec["after"]["role"]) == ("viewer", "admin")
    _, rec = await admin(gw, "member.remove", "DELETE", f"{base}/members/{member['id']}")
    assert rec["after"] is None and rec["before"]["email"] == body["email"]
    team, rec = await admin(gw, "team.create", "POST", base + "/teams", {"name": "ops"})
    _, rec = await admin(
        gw, "team.quotas", "PUT", f"/admin/v1/teams/{team['id']}/quotas", {"quotas": HOUR}
    )
    _, rec = await admin(
        gw, "key.team", "PUT", f"/admin/v1/keys/{key['id']}/team", {"team_id": team["id"]}
    )
    assert rec["after"] == {"team_id": team["id"]}
    _, rec = await admin(
        gw, "end_user_budget.set", "PUT", base + "/end-user-budgets", {"quotas": HOUR}
    )
    _, rec = await admin(gw, "key.revoke", "DELETE", f"/admin/v1/keys/{key['id']}")
    assert (rec["before"]["revoked"], rec["after"]["revoked"]) == (False, True)


async def test_members_changes_name_the_member_and_how_they_signed_in(gw: Gateway) -> None:
    org = await tenant(gw)
    owner = token(org.account_id, "owner", sub="boss")
    since = await last_id(gw)
    status, made = await call(gw, owner, "POST", "/v1/account/keys", {"name": "mine"})
    assert status == 201, made
    rec = await one_record(gw, since, "key.create")
    assert (rec["actor_kind"], rec["actor_via"]) == ("member", "jwt") and rec["actor_id"]
    since = await last_id(gw)
    status, rotated = await call(gw, owner, "POST", f"/v1/account/keys/{made['id']}/rotate", {})
    assert status == 201, rotated
    rec = await one_record(gw, since, "key.rotate")
    text = json.dumps(rec, default=str)
    assert rotated["key"] not in text and made["key"] not in text
    since = await last_id(gw)
    off = b"null"  # auto top-up off: a payment setting
    status, answer = await call(gw, owner, "PUT", "/v1/account/billing/auto-topup", off)
    assert status == 200, answer
    rec = await one_record(gw, since, "payment.auto_topup")
    assert rec["after"] == {"auto_topup": None} and rec["account_id"] == org.account_id
    since = await last_id(gw)
    status, _ = await call(gw, org.key, "GET", "/v1/account")  # a read writes nothing
    assert await last_id(gw) == since


async def test_the_log_refuses_updates_deletes_and_truncation(gw: Gateway) -> None:
    await gw.admin("POST", "/admin/v1/accounts", {"name": "x"})
    pool = gw.stores().pool
    for statement in (
        "UPDATE audit_log SET action = 'nothing'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(Exception, match="append-only"):
            await pool.execute(statement)
    assert all(r["action"] != "nothing" for r in await records(gw))
    # The adapter offers no way to change a record: only append and page.
    assert {name for name in vars(AuditLog) if not name.startswith("_")} == {
        "append",
        "page",
        "names",
    }


async def test_owners_read_their_own_organization_and_no_one_else_does(gw: Gateway) -> None:
    a, b = await tenant(gw), await tenant(gw)
    for org in (a, b):
        await gw.admin("PUT", f"/admin/v1/accounts/{org.account_id}/markup", {"markup_bps": 100})
    owner = token(a.account_id, "owner")
    status, page = await call(gw, owner, "GET", "/v1/account/audit")
    assert status == 200, page
    assert page["data"] and {r["account_id"] for r in page["data"]} == {a.account_id}
    assert b.account_id not in json.dumps(page)
    status, page = await call(gw, owner, "GET", "/v1/account/audit?action=account.markup&limit=1")
    assert status == 200 and [r["action"] for r in page["data"]] == ["account.markup"]
    for role in ("admin", "billing", "member", "viewer"):
        status, _ = await call(gw, token(a.account_id, role), "GET", "/v1/account/audit")
        assert status == 403, role
    key = await tenant(gw, scopes=["account:read", "audit:read"])  # a key never reads it
    assert (await call(gw, key.key, "GET", "/v1/account/audit"))[0] == 403
    status, every = await gw.admin("GET", "/admin/v1/audit?limit=500")
    assert status == 200 and {a.account_id, b.account_id} <= {
        r["account_id"] for r in every["data"]
    }
    status, only_b = await gw.admin("GET", f"/admin/v1/audit?account_id={b.account_id}")
    assert status == 200 and {r["account_id"] for r in only_b["data"]} == {b.account_id}


async def test_pages_and_exports(gw: Gateway) -> None:
    org = await tenant(gw)
    for bps in (100, 200, 300):
        await gw.admin("PUT", f"/admin/v1/accounts/{org.account_id}/markup", {"markup_bps": bps})
    path = f"/admin/v1/audit?account_id={org.account_id}&action=account.markup"
    _, first = await gw.admin("GET", path + "&limit=2")
    assert [r["after"]["markup_bps"] for r in first["data"]] == [300, 200] and first["has_more"]
    _, rest = await gw.admin("GET", path + f"&limit=2&before={first['next_before']}")
    assert [r["after"]["markup_bps"] for r in rest["data"]] == [100] and not rest["has_more"]
    owner = token(org.account_id, "owner")
    headers = {"Authorization": f"Bearer {owner}"}
    async with gw.http.get(gw.url + "/v1/account/audit?format=jsonl", headers=headers) as r:
        lines = [json.loads(line) for line in (await r.text()).splitlines()]
    assert r.status == 200 and {x["account_id"] for x in lines} == {org.account_id}
    assert len([x for x in lines if x["action"] == "account.markup"]) == 3
    async with gw.http.get(gw.url + "/v1/account/audit?format=csv", headers=headers) as r:
        text = await r.text()
    assert r.status == 200 and text.startswith("id,occurred_at,account_id,actor_kind")
    assert text.count("account.markup") == 3


async def test_the_dashboard_and_the_cli_show_the_records(gw: Gateway, tmp_path: Path) -> None:
    org = await tenant(gw)
    await gw.admin("PUT", f"/admin/v1/accounts/{org.account_id}/markup", {"markup_bps": 700})
    cookies = await operator_cookies(gw)
    url = f"{gw.url}/dashboard/operators/audit?account_id={org.account_id}"
    async with gw.http.get(url, cookies=cookies) as r:
        html = await r.text()
    assert r.status == 200 and "account.markup" in html and "700" in html, html
    async with gw.http.get(url + "&format=csv", cookies=cookies) as r:
        text = await r.text()
    assert r.status == 200 and text.startswith("id,occurred_at") and "account.markup" in text
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "admin", "audit", "--account-id", org.account_id)
    assert run.code == 0, run
    assert "account.markup" in run.out and "by operator admin key (admin key)" in run.out
    run = await meterway(gw, tmp_path, "admin", "audit", "--account-id", org.account_id, "--csv")
    assert run.code == 0 and run.out.startswith("id,occurred_at"), run
    login(tmp_path, token(org.account_id, "owner"))
    run = await meterway(gw, tmp_path, "audit", "--action", "account.markup")
    assert run.code == 0 and "account.markup" in run.out, run
    login(tmp_path, token(org.account_id, "admin"))
    run = await meterway(gw, tmp_path, "audit")
    assert run.code != 0 and "audit:read" in run.err, run


async def test_a_dashboard_change_names_the_member_and_their_sign_in(gw: Gateway) -> None:
    org = await tenant(gw)
    email = f"owner-{secrets.token_hex(3)}@example.com"
    path = f"/admin/v1/accounts/{org.account_id}/members"
    _, member = await gw.admin("POST", path, {"email": email, "role": "owner"})
    cookie = secrets.token_urlsafe(32)
    record = {"kind": "member", "member_id": member["id"], "account_id": org.account_id,
              "label": email, "csrf": "x", "operator": False}  # fmt: skip
    record["signin"] = "e-mailed link"  # as start_member_session writes it
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 3600)
    since = await last_id(gw)
    form = {"csrf": "x", "name": "from-the-dashboard"}
    async with gw.http.post(
        gw.url + "/dashboard/keys", data=form, cookies={COOKIE: cookie}, allow_redirects=False
    ) as r:
        assert r.status == 200, await r.text()
    rec = await one_record(gw, since, "key.create")
    assert (rec["actor_kind"], rec["actor_id"]) == ("member", member["id"])
    assert rec["actor_via"] == "dashboard session (e-mailed link)"
    assert rec["after"]["name"] == "from-the-dashboard" and rec["account_id"] == org.account_id
    async with gw.http.get(gw.url + "/dashboard/audit", cookies={COOKIE: cookie}) as r:
        html = await r.text()
    assert r.status == 200 and "key.create" in html and "e-mailed link" in html, html


async def test_changes_a_payment_provider_makes_are_recorded_as_the_system(gw: Gateway) -> None:
    b = await biller(gw)
    since = await last_id(gw)
    await b.topup(2_000_000)
    records_now = [r for r in await records(gw, b.t.account_id) if r["id"] > since]
    credits = [r for r in records_now if r["action"] == "credit.create"]
    assert len(credits) == 1, records_now
    assert (credits[0]["actor_kind"], credits[0]["actor_id"]) == ("system", "payments")
    assert credits[0]["after"]["amount_micros"] == 2_000_000
    since = await last_id(gw)
    await b.save_card()
    methods = [r for r in await records(gw, b.t.account_id) if r["id"] > since]
    assert [r["action"] for r in methods].count("payment.method") == 1, methods
