"""A price change reviewed before it bills (issue 71): its preview equals what the same usage
is billed once it takes effect, per account, to the micro, with calls in flight at the switch
billed by the card their reservation was priced with; a second operator, a future effective
time and a named confirmation are required where the operator asks for them.

Each test has a database of its own: an approved change is installed by every gateway that
reads the database, and the suite's others bill the shipped prices."""

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

import openai
import pytest

from tests.support.factories import (
    debits,
    openai_client,
    price,
    reviewed_markup,
    tenant,
    usage_stream,
)
from tests.support.fakes.identity import AUDIENCE, HS_SECRET, ISSUER, claims, sign_hs
from tests.support.harness import (
    ADMIN_KEY,
    Gateway,
    config_dir_with,
    running_gateway,
    temp_database,
)

HOUSE = """
[models."house-chat"]
provider = "openai"
max_output_tokens = 4096
input = "1.00"
output = "2.00"
"""
CHANGE = {"models": {"house-chat": {"input": "1.37", "output": "2.91"}}}
MESSAGES: Any = [{"role": "user", "content": "price me"}]
# The usage each account reports before the change, and again after it.
USAGES = {
    "a": [(1234, 567), (1234, 567), (10, 3)],
    "b": [(1234, 567), (2000, 301)],
}
REVIEW_ENV = {"PRICE_CHANGE_LEAD_S": "1", "PRICE_CHANGE_POLL_S": "0.2"}


@pytest.fixture
async def own_gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with temp_database() as dsn:
        config = config_dir_with(tmp_path, pricing=HOUSE)
        async with running_gateway(dsn, None, MW_CONFIG_DIR=str(config), **REVIEW_ENV) as gw:
            yield gw
            await gw.settle_all()


@pytest.fixture
async def two_gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    jwt = {"JWT_SECRET": HS_SECRET, "JWT_AUDIENCE": AUDIENCE, "JWT_ISSUER": ISSUER}
    async with temp_database() as dsn:
        config = config_dir_with(tmp_path, pricing=HOUSE)
        env = {**REVIEW_ENV, **jwt, "PRICE_CHANGE_APPROVERS": "2"}
        async with running_gateway(dsn, None, MW_CONFIG_DIR=str(config), **env) as gw:
            yield gw


def behaviour(prompt: int, completion: int) -> dict[str, str]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    return {"x-fake-behaviour": json.dumps({"usage": usage})}


async def chat(
    gw: Gateway, key: str, prompt: int, completion: int, model: str = "house-chat"
) -> None:
    async with openai_client(gw, key) as client:
        await client.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=1000,
            extra_headers=behaviour(prompt, completion),
        )  # fmt: skip


def ahead(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def operator(gw: Gateway, token: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with gw.http.request(method, gw.url + path, json=body, headers=headers) as r:
        return r.status, await r.json()


async def debit_sums(gw: Gateway, accounts: dict[str, str], skip: set[int]) -> dict[str, int]:
    """Each account's debits not in `skip` (ids), summed; `skip` takes them in."""
    out = {}
    for name, account_id in accounts.items():
        rows = [r for r in await debits(gw, account_id) if r["id"] not in skip]
        skip |= {r["id"] for r in rows}
        out[name] = sum(-r["amount_micros"] for r in rows)
    return out


async def test_preview_equals_what_the_same_usage_is_billed_across_the_effective_time(
    own_gw: Gateway,
) -> None:
    gw = own_gw
    a, b = await tenant(gw), await tenant(gw)
    await reviewed_markup(gw, b.account_id, 2000)
    keys, accounts = {"a": a.key, "b": b.key}, {"a": a.account_id, "b": b.account_id}
    for name, usages in USAGES.items():
        for prompt, completion in usages:
            await chat(gw, keys[name], prompt, completion)
    seen: set[int] = set()
    billed_before = await debit_sums(gw, accounts, seen)
    (old_card,) = {
        -r["amount_micros"] for r in await debits(gw, a.account_id) if r["input_tokens"] == 1234
    }

    effective = datetime.now(UTC) + timedelta(seconds=4)
    status, change = await gw.admin(
        "POST", "/admin/v1/prices/changes", {**CHANGE, "effective_at": effective.isoformat()}
    )
    assert status == 201, change
    previewed = {p["account_id"]: p for p in change["preview"]["accounts"]}
    assert [previewed[accounts[n]]["before_micros"] for n in ("a", "b")] == [
        billed_before["a"],
        billed_before["b"],
    ]
    assert any("house-chat [default] input_mtok" in line for line in change["diff"])

    status, refused = await gw.admin("POST", f"/admin/v1/prices/changes/{change['id']}/approve", {})
    assert status == 400 and refused["error"]["code"] == "confirmation_required", refused
    move = change["largest_move_percent"]
    assert move in refused["error"]["message"]
    status, refused = await gw.admin(
        "POST", f"/admin/v1/prices/changes/{change['id']}/approve", {"confirm": "1.0%"}
    )
    assert status == 400, refused
    status, approved = await gw.admin(
        "POST", f"/admin/v1/prices/changes/{change['id']}/approve", {"confirm": move}
    )
    assert status == 200 and approved["status"] == "approved", approved

    # A call admitted before the effective time and finished after it (account c's): billed
    # by the card its reservation was priced with, the old one.
    c = await tenant(gw)
    await asyncio.sleep(max(0.0, effective.timestamp() - 1.0 - time.time()))
    slow: dict[str, Any] = {"usage": {"prompt_tokens": 1234, "completion_tokens": 567}}
    slow |= {"chunk_delay_s": 0.6, "chunks": 4}
    async with openai_client(gw, c.key) as client:
        in_flight = asyncio.ensure_future(
            usage_stream(
                client, "house-chat", MESSAGES, max_tokens=1000,
                extra_headers={"x-fake-behaviour": json.dumps(slow)},
            )
        )  # fmt: skip
        await asyncio.sleep(max(0.0, effective.timestamp() + 0.2 - time.time()))
        assert not in_flight.done()
        for name, usages in USAGES.items():
            for prompt, completion in usages:
                await chat(gw, keys[name], prompt, completion)
        await in_flight
    billed_after = await debit_sums(gw, accounts, seen)
    assert billed_after == {n: previewed[accounts[n]]["after_micros"] for n in accounts}
    assert billed_after["a"] > billed_before["a"]
    assert change["preview"]["total"]["after_micros"] == sum(billed_after.values())
    (flight,) = await debits(gw, c.account_id)
    assert -flight["amount_micros"] == old_card


async def test_approval_by_its_proposer_is_refused_when_two_are_required(two_gw: Gateway) -> None:
    gw = two_gw
    body = {**CHANGE, "effective_at": ahead(60), "note": "supplier raised its prices"}
    status, change = await gw.admin("POST", "/admin/v1/prices/changes", body)
    assert status == 201, change
    assert change["proposed_by"] == "admin key" and change["status"] == "pending"
    path = f"/admin/v1/prices/changes/{change['id']}/approve"
    status, refused = await gw.admin("POST", path, {})
    assert status == 403 and refused["error"]["code"] == "second_approver_required", refused
    bob = sign_hs(claims("op-bob", scope="admin"))
    status, approved = await operator(gw, bob, "POST", path, {})
    assert status == 200 and approved["decided_by"] == "op-bob", approved
    status, again = await operator(gw, bob, "POST", path, {})
    assert status == 409 and again["error"]["code"] == "price_change_decided", again
    status, audit = await gw.admin("GET", "/admin/v1/audit?target_kind=price_change")
    assert status == 200, audit
    actions = sorted((r["action"], r["actor_id"]) for r in audit["data"])
    assert actions == [("price_change.approve", "op-bob"), ("price_change.propose", "admin key")]
    # Approved, it bills from its effective time, not before.
    effective_ms = int(datetime.fromisoformat(change["effective_at"]).timestamp() * 1000)
    house = price(gw, "house-chat")
    assert house.card(effective_ms - 1).bands[0].rates["input_mtok"] == 1_000_000
    assert house.card(effective_ms).bands[0].rates["input_mtok"] == 1_370_000


async def test_a_price_change_never_takes_effect_in_the_past(own_gw: Gateway) -> None:
    gw = own_gw
    for when in (ahead(-60), ahead(0.2)):
        status, refused = await gw.admin(
            "POST", "/admin/v1/prices/changes", {**CHANGE, "effective_at": when}
        )
        assert status == 400 and refused["error"]["code"] == "effective_time_too_soon", refused
    status, change = await gw.admin(
        "POST", "/admin/v1/prices/changes", {**CHANGE, "effective_at": ahead(1.5)}
    )
    assert status == 201, change
    await asyncio.sleep(0.8)  # now closer to its effective time than the lead: too late
    status, refused = await gw.admin("POST", f"/admin/v1/prices/changes/{change['id']}/approve")
    # The stored change's time came too near: a conflict with its state, not a bad request.
    assert status == 409 and refused["error"]["code"] == "price_change_too_late", refused
    status, rejected = await gw.admin("POST", f"/admin/v1/prices/changes/{change['id']}/reject")
    assert status == 200 and rejected["status"] == "rejected", rejected
    status, pending = await gw.admin("GET", "/admin/v1/prices/changes?status=pending")
    assert status == 200 and pending["data"] == [], pending


async def meterway(gw: Gateway, *args: str, **more: str) -> tuple[int, str]:
    env = {**os.environ, "METERWAY_ADMIN_KEY": ADMIN_KEY, **more}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "prices", *args, "--api-url", gw.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode() + err.decode()


@pytest.mark.timeout(480)  # six runs of the CLI, each a Python start-up
async def test_the_cli_proposes_lists_and_approves_naming_the_move(
    own_gw: Gateway, tmp_path: Path
) -> None:
    gw = own_gw
    t = await tenant(gw)
    await chat(gw, t.key, 1000, 1000)  # 1000 x $1 + 1000 x $2 per 1M: 3,000 micros
    change = tmp_path / "change.toml"
    change.write_text('[models."house-chat"]\ninput = "1.00"\noutput = "2.50"\n')
    code, out = await meterway(gw, "preview", str(change), "--effective-at", "+1h")
    assert code == 0 and "house-chat [default] output_mtok: 2.000000 -> 2.500000" in out, out
    code, out = await meterway(gw, "propose", str(change), "--effective-at", "+1h", "--note", "up")
    assert code == 0 and "price change 1: pending" in out, out
    assert f"{t.account_id}  1      0.003000  0.003500  16.7%" in out, out
    code, out = await meterway(gw, "pending")
    assert code == 3 and "price change 1: pending" in out, out
    code, out = await meterway(gw, "approve", "1")
    assert code == 2 and '"confirm": "16.7%"' in out, out
    code, out = await meterway(gw, "approve", "1", "--confirm", "16.7%")
    assert code == 0 and "price change 1: approved" in out, out
    code, out = await meterway(gw, "pending")
    assert code == 0 and "no price change is pending" in out, out


async def unpriced(gw: Gateway) -> list[dict[str, Any]]:
    status, body = await gw.admin("GET", "/admin/v1/prices/unpriced")
    assert status == 200, body
    return list(body["data"])


async def test_refusals_of_an_unpriced_model_are_counted_and_a_change_prices_it(
    own_gw: Gateway,
) -> None:
    gw = own_gw
    a, b = await tenant(gw), await tenant(gw)
    for key in (a.key, a.key, b.key):
        with pytest.raises(openai.NotFoundError):
            await chat(gw, key, 100, 100, model="fresh-model-x")
    found = await unpriced(gw)
    for _ in range(200):  # the price desk's clock flushes the process's count (0.2 s here),
        if found and found[0]["calls"] == 3:  # maybe between two of the calls
            break
        await asyncio.sleep(0.05)
        found = await unpriced(gw)
    (seen,) = found
    assert (seen["model"], seen["calls"], seen["accounts"]) == ("fresh-model-x", 3, 2)
    assert seen["price_with"]["path"] == "/admin/v1/prices/changes"

    route = {"provider": "openai", "max_output_tokens": 1000, "input": "3.00", "output": "4.00"}
    effective = datetime.now(UTC) + timedelta(seconds=2)
    status, change = await gw.admin(
        "POST", "/admin/v1/prices/changes",
        {"models": {"fresh-model-x": route}, "effective_at": effective.isoformat()},
    )  # fmt: skip
    assert status == 201 and change["preview"]["accounts"] == [], change
    status, approved = await gw.admin("POST", f"/admin/v1/prices/changes/{change['id']}/approve")
    assert status == 200, approved
    with pytest.raises(openai.NotFoundError):  # approved, not yet in force
        await chat(gw, a.key, 100, 100, model="fresh-model-x")
    await asyncio.sleep(max(0.0, effective.timestamp() + 0.5 - time.time()))
    await chat(gw, a.key, 1000, 1000, model="fresh-model-x")
    (debit,) = [r for r in await debits(gw, a.account_id)]
    assert -debit["amount_micros"] == 7000  # 1000 x $3 + 1000 x $4 per 1M
    assert await unpriced(gw) == []


async def test_a_model_name_the_ledger_cannot_store_is_counted_and_the_desk_stays_up(
    own_gw: Gateway,
) -> None:
    """A client's model name with a NUL (PostgreSQL text holds none) is counted under its
    name with U+FFFD; the price desk's clock never crash-loops on it, so /readyz stays
    ready."""
    gw = own_gw
    t = await tenant(gw)
    with pytest.raises(openai.NotFoundError):
        await chat(gw, t.key, 100, 100, model="odd\x00model")
    for _ in range(200):
        found = await unpriced(gw)
        if found:
            break
        await asyncio.sleep(0.05)
    assert [(r["model"], r["calls"]) for r in found] == [("odd\ufffdmodel", 1)]
    await asyncio.sleep(0.5)  # two more ticks of the clock
    status, ready = await gw.admin("GET", "/readyz")
    assert status == 200, ready
    assert ready["tasks"]["price_changes"]["crashes"] == 0, ready


async def test_every_process_switches_at_the_effective_time(tmp_path: Path) -> None:
    """Approved on one gateway, the change bills on another reading the same database, from
    its effective time: installed by that one's own clock (PRICE_CHANGE_POLL_S)."""
    async with temp_database() as dsn:
        config = str(config_dir_with(tmp_path, pricing=HOUSE))
        async with (
            running_gateway(dsn, None, MW_CONFIG_DIR=config, **REVIEW_ENV) as one,
            running_gateway(dsn, None, MW_CONFIG_DIR=config, **REVIEW_ENV) as other,
        ):
            t = await tenant(other)
            effective = datetime.now(UTC) + timedelta(seconds=2)
            body = {**CHANGE, "effective_at": effective.isoformat()}
            status, change = await one.admin("POST", "/admin/v1/prices/changes", body)
            assert status == 201, change
            status, approved = await one.admin(
                "POST", f"/admin/v1/prices/changes/{change['id']}/approve"
            )
            assert status == 200, approved
            await chat(other, t.key, 1000, 1000)  # before: 1000 x $1 + 1000 x $2 per 1M
            await asyncio.sleep(max(0.0, effective.timestamp() + 0.1 - time.time()))
            await chat(other, t.key, 1000, 1000)  # after: 1000 x $1.37 + 1000 x $2.91
            rows = sorted(await debits(other, t.account_id), key=lambda r: r["id"])
            assert [-r["amount_micros"] for r in rows] == [3000, 4280]
            await other.settle_all()
            await one.settle_all()


async def test_an_edited_pricing_toml_is_written_as_a_change_to_review(
    own_gw: Gateway, tmp_path: Path
) -> None:
    """`prices diff --write`: the install's moved prices as a change file, proposed as it is."""
    (tmp_path / "edited").mkdir()
    edited = config_dir_with(tmp_path / "edited", pricing=HOUSE.replace('"1.00"', '"1.50"'))
    change = tmp_path / "change.toml"
    code, out = await meterway(own_gw, "diff", "--write", str(change), MW_CONFIG_DIR=str(edited))
    assert code == 3 and "house-chat [default] input_mtok: 1.000000 -> 1.500000" in out, out
    assert change.read_text().startswith('[models."house-chat"]\n'), change.read_text()
    code, out = await meterway(own_gw, "propose", str(change), "--effective-at", "+1h")
    assert code == 0 and "~ house-chat [default] input_mtok: 1.000000 -> 1.500000" in out, out
