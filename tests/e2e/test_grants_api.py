"""Credit grants through the operator API, the account API and `meterway admin`: a
promotional grant is spent before the paid one and its rest is written off at expiry, a
revoked trial the same way, and bad grant fields are refused by name."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.factories import hot_balance, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway
from tests.support.invariants import check_invariants

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
HOUR_MS = 3_600_000


async def gateway_now(gw: Gateway) -> datetime:
    return datetime.fromtimestamp(await gw.store.now_ms() / 1000, UTC)


async def credit(gw: Gateway, account_id: str, amount: int, idem: str, **grant: Any) -> Any:
    body: dict[str, Any] = {"amount_micros": amount, "idempotency_key": idem}
    if grant:
        body["grant"] = grant
    status, answer = await gw.admin("POST", f"/admin/v1/accounts/{account_id}/credits", body)
    assert status == 201, answer
    return answer


async def grants_of(gw: Gateway, account_id: str) -> dict[str, dict[str, Any]]:
    """The account's grants by kind, once the keeper has allocated what settled."""
    await gw.settle_all()
    await gw.stores().grants().allocate(account_id)
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/grants")
    assert status == 200, body
    return {g["kind"]: g for g in body["data"]}


async def write_offs(gw: Gateway, account_id: str, count: int) -> list[Any]:
    """The account's `expire` entries, waiting up to 10 s for the keeper to write `count`."""
    for _ in range(100):
        await gw.settle_all()
        rows = await gw.stores().pool.fetch(
            "SELECT amount_micros, metadata FROM ledger_entries"
            " WHERE account_id = $1 AND kind = 'expire' ORDER BY id",
            account_id,
        )
        if len(rows) >= count:
            return [(r["amount_micros"], json.loads(r["metadata"])) for r in rows]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} write-offs expected, {len(rows)} written")


async def test_promotional_first_then_written_off_at_expiry(gw: Gateway) -> None:
    gw.control.usage = {"prompt_tokens": 1_000, "completion_tokens": 1_000, "total_tokens": 2_000}
    t = await tenant(gw, credit=5_000_000, scopes=["chat", "account:read"])
    expires = await gateway_now(gw) + timedelta(hours=1)
    await credit(
        gw, t.account_id, 2_000_000, "promo", kind="promotional", expires_at=expires.isoformat()
    )
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=50)
    grants = await grants_of(gw, t.account_id)
    debit = 7_000_000 - await hot_balance(gw, t.account_id)
    assert debit > 0
    assert grants["paid"]["remaining_micros"] == 5_000_000  # untouched: paid is spent last
    assert grants["promotional"]["remaining_micros"] == 2_000_000 - debit
    assert grants["promotional"]["status"] == "active"

    # The account's members see the same grants.
    async with gw.http.get(
        gw.url + "/v1/account/grants", headers={"Authorization": f"Bearer {t.key}"}
    ) as r:
        mine = await r.json()
    assert r.status == 200
    assert [g["id"] for g in mine["data"]] == [g["id"] for g in grants.values()]

    before = await hot_balance(gw, t.account_id)
    await gw.advance_clock(HOUR_MS + 1_000)
    [(amount, meta)] = await write_offs(gw, t.account_id, 1)
    assert amount == -(2_000_000 - debit)
    assert meta["cause"] == "expired" and meta["grant_id"] == grants["promotional"]["id"]
    assert await hot_balance(gw, t.account_id) == before - (2_000_000 - debit)
    after = await grants_of(gw, t.account_id)
    assert after["promotional"]["status"] == "expired"
    assert after["promotional"]["remaining_micros"] == 0
    await check_invariants(gw.stores(), [t.account_id])


async def test_the_cli_credits_a_trial_lists_it_and_revokes_it(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, credit=1_000_000)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(
        gw, tmp_path, "admin", "credit", t.account_id, "--amount", "3", "--kind", "trial",
        "--priority", "10", "--expires", "2099-01-01",
    )  # fmt: skip
    assert run.code == 0, run.err
    listed = await meterway(gw, tmp_path, "admin", "grants", t.account_id)
    assert listed.code == 0, listed.err
    trial_line = next(line for line in listed.out.splitlines() if "trial" in line)
    assert "active" in trial_line and "$3.00" in trial_line
    assert "1 Jan 2099 23:59 UTC" in trial_line  # the expiry as people read it
    trial = (await grants_of(gw, t.account_id))["trial"]
    assert trial["priority"] == 10

    revoked = await meterway(gw, tmp_path, "admin", "revoke-grant", t.account_id, str(trial["id"]))
    assert revoked.code == 0, revoked.err
    [(amount, meta)] = await write_offs(gw, t.account_id, 1)
    assert amount == -3_000_000 and meta["cause"] == "revoked"
    assert await hot_balance(gw, t.account_id) == 1_000_000
    assert (await grants_of(gw, t.account_id))["trial"]["status"] == "revoked"
    await check_invariants(gw.stores(), [t.account_id])


async def test_bad_grants_are_refused_by_name_and_credit_nothing(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    past = (await gateway_now(gw) - timedelta(seconds=1)).isoformat()
    cases = {
        "grant.kind": {"kind": "Promo!"},
        "grant.priority": {"priority": 5000},
        "grant.expires_at": {"expires_at": past},
    }
    for param, grant in cases.items():
        body = {"amount_micros": 1_000, "idempotency_key": param, "grant": grant}
        status, err = await gw.admin("POST", f"/admin/v1/accounts/{t.account_id}/credits", body)
        assert status == 400, err
        assert err["error"]["param"] == param, err
    other = await tenant(gw, credit=1_000_000)
    own = (await grants_of(gw, other.account_id))["paid"]["id"]
    path = f"/admin/v1/accounts/{t.account_id}/grants/{own}/revoke"
    status, err = await gw.admin("POST", path)
    assert status == 404, err  # another account's grant is not found through this one
    assert await hot_balance(gw, t.account_id) == 1_000_000
    await check_invariants(gw.stores(), [t.account_id, other.account_id])


async def test_a_revoked_grant_pays_nothing_from_the_moment_it_is_revoked(gw: Gateway) -> None:
    """Admission never waits for the keeper's write-off: the revocation ends the grant in
    the hot balance at once (issue 46, item 2)."""
    t = await tenant(gw, credit=0)
    await credit(gw, t.account_id, 1_000_000, "trial", kind="trial")
    trial = (await grants_of(gw, t.account_id))["trial"]
    path = f"/admin/v1/accounts/{t.account_id}/grants/{trial['id']}/revoke"
    status, body = await gw.admin("POST", path, {})
    assert status == 200, body
    body = {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 5}
    headers = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 402, await r.text()
