"""The operator's console from the terminal (issue 48): `meterway admin` opens an account on a
plan with its opening credit (once, however often it is run with one key), issues, rotates
and revokes keys, invites people, changes their roles and removes them. Run as people run
it (a subprocess against a real gateway); every change is in the audit log as the
operator's."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.factories import openai_client
from tests.support.harness import ADMIN_KEY, Gateway


async def _chat(gw: Gateway, secret: str) -> int:
    """The status a chat call with `secret` is answered."""
    async with openai_client(gw, secret) as client:  # closed: no socket left to the loop
        try:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        except openai.APIStatusError as exc:
            return exc.status_code
    return 200


@pytest.mark.timeout(360)  # many runs of the CLI, each a Python start-up
async def test_an_account_opens_with_its_plan_and_opening_credit_once(
    gw: Gateway, tmp_path: Path
) -> None:
    login(tmp_path, ADMIN_KEY, "admin-key")
    argv = ("admin", "account-create", "acme", "--plan", "pro", "--credit", "12.50")
    first = await meterway(gw, tmp_path, *argv, "--idempotency-key", "acme-1", "--json")
    assert first.code == 0, first
    made = json.loads(first.out)
    assert (made["plan"], made["balance_micros"]) == ("pro", 12_500_000), made
    again = await meterway(gw, tmp_path, *argv, "--idempotency-key", "acme-1")
    assert again.code == 0 and again.out.startswith(made["id"]), again
    assert "pro (prepaid)  balance $12.50" in again.out  # the same account, credited once
    shown = await meterway(gw, tmp_path, "admin", "account", made["id"])
    assert shown.code == 0 and "balance  $12.50 ($0.00 held)" in shown.out, shown
    grants = await meterway(gw, tmp_path, "admin", "grants", made["id"], "--json")
    assert [g["amount_micros"] for g in json.loads(grants.out)["data"]] == [12_500_000]


@pytest.mark.timeout(360)  # many runs of the CLI, each a Python start-up
async def test_keys_are_issued_rotated_and_revoked(gw: Gateway, tmp_path: Path) -> None:
    login(tmp_path, ADMIN_KEY, "admin-key")
    opened = await meterway(gw, tmp_path, "admin", "account-create", "k", "--credit", "5", "--json")
    account = json.loads(opened.out)["id"]
    team = await meterway(gw, tmp_path, "admin", "team-create", account, "web", "--json")
    team_id = json.loads(team.out)["id"]
    issued = await meterway(
        gw, tmp_path, "admin", "key-create", account, "app", "--scope", "inference",
        "--quota", "day:spend:2", "--team", team_id,
    )  # fmt: skip
    assert issued.code == 0, issued
    key_id, secret = issued.out.split()[0], issued.out.splitlines()[1]
    assert secret.startswith("mw-") and await _chat(gw, secret) == 200
    teams = await meterway(gw, tmp_path, "admin", "teams", account, "--json")
    assert [t["keys"] for t in json.loads(teams.out)["data"]] == [1]

    rotated = await meterway(gw, tmp_path, "admin", "key-rotate", key_id, "--grace", "0")
    assert rotated.code == 0 and "old secret works until" in rotated.out, rotated
    new_id, new_secret = rotated.out.split()[0], rotated.out.splitlines()[1]
    assert await _chat(gw, new_secret) == 200 and await _chat(gw, secret) == 401

    revoked = await meterway(gw, tmp_path, "admin", "key-revoke", new_id)
    assert revoked.code == 0 and f"{new_id} revoked" in revoked.out, revoked
    assert await _chat(gw, new_secret) == 401


@pytest.mark.timeout(360)  # many runs of the CLI, each a Python start-up
async def test_members_are_invited_re_roled_and_removed(gw: Gateway, tmp_path: Path) -> None:
    login(tmp_path, ADMIN_KEY, "admin-key")
    opened = await meterway(gw, tmp_path, "admin", "account-create", "m", "--json")
    account = json.loads(opened.out)["id"]
    invited = await meterway(gw, tmp_path, "admin", "member-invite", account, "ana@example.com")
    assert invited.code == 0 and "ana@example.com invited as owner" in invited.out, invited
    member = invited.out.split()[0]
    assert "/dashboard/signin/invitation/" in invited.out.splitlines()[1]

    listed = await meterway(gw, tmp_path, "admin", "members", account)
    assert listed.out.startswith("MEMBER  ") and "ana@example.com  owner  invited" in listed.out

    role = await meterway(gw, tmp_path, "admin", "member-role", account, member, "billing")
    assert role.code == 0 and "is now billing" in role.out, role
    removed = await meterway(gw, tmp_path, "admin", "member-remove", account, member)
    assert removed.code == 0 and "removed" in removed.out, removed
    empty = await meterway(gw, tmp_path, "admin", "members", account)
    assert empty.out.strip() == "no members"

    audit = await meterway(gw, tmp_path, "admin", "audit", "--account-id", account, "--json")
    records = json.loads(audit.out)["data"]
    actions = {r["action"] for r in records}
    assert {"account.create", "member.invite", "member.role", "member.remove"} <= actions
    assert {r["actor_kind"] for r in records} == {"operator"}
