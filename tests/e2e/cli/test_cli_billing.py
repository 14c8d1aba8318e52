"""`meterway billing` and `meterway admin` driven as a user would: a subprocess against a
real gateway, the token in ~/.config/meterway, never on the command line."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.http.appkeys import LOCAL_PROVIDER
from tests.support.factories import openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway

STATUS_SCOPES = ["chat", "account:read", "billing"]  # the key may take the steps it is shown


@dataclass
class Run:
    code: int
    out: str
    err: str


async def meterway(gw: Gateway, home: Path, *argv: str, api_url: str | None = None) -> Run:
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home),
        "METERWAY_API_URL": api_url or gw.url,
    }
    env.pop("METERWAY_TOKEN", None)
    env.pop("METERWAY_ADMIN_KEY", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    return Run(int(proc.returncode or 0), out.decode(), err.decode())


def login(home: Path, token: str, name: str = "token") -> None:
    (home / "meterway").mkdir(parents=True, exist_ok=True)
    path = home / "meterway" / name
    path.write_text(token + "\n")
    path.chmod(0o600)


@pytest.mark.timeout(480)  # several runs of the CLI, each a Python start-up
async def test_status_when_all_is_well(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, scopes=STATUS_SCOPES)
    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 0, run
    assert t.account_id in run.out and "pro (prepaid)" in run.out
    assert "available $10.00\n" in run.out and "nothing to do" in run.out
    assert "quota     requests per minute      0 of 600  resets" in run.out
    assert "quota     spend per month          $0.00 of $1,000.00" in run.out
    as_json = await meterway(gw, tmp_path, "billing", "status", "--json")
    assert json.loads(as_json.out)["account"]["balance_micros"] == 10_000_000
    quiet = await meterway(gw, tmp_path, "billing", "status", "--quiet")
    assert (quiet.code, quiet.out) == (0, "")
    target = tmp_path / "status.txt"
    to_file = await meterway(gw, tmp_path, "billing", "status", "--output", str(target))
    assert to_file.out == "" and "nothing to do" in target.read_text()


async def test_status_when_billing_is_missing_prints_the_fix(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, scopes=STATUS_SCOPES)
    status, body = await gw.admin(
        "PUT", f"/admin/v1/accounts/{t.account_id}/plan", {"plan": "enterprise"}
    )
    assert status == 200 and body["billing_ready"] is False, body
    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 3, run
    assert "ACTION    Billing is not set up: save a payment method." in run.out
    assert "run     meterway billing setup" in run.out
    assert f"or open {gw.url}/dashboard/billing#method" in run.out


async def test_status_when_the_balance_is_used_up(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, credit=0, scopes=STATUS_SCOPES)
    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 3, run
    assert "The balance is used up ($0.00 available): add credit." in run.out
    assert "run     meterway billing topup --amount 10" in run.out


async def test_status_when_a_quota_is_exhausted_prints_the_fix(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, plan="free", scopes=STATUS_SCOPES)
    async with openai_client(gw, t.key) as client:
        for _ in range(20):  # the free plan's 20 requests a minute
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 3, run
    assert (
        "ACTION    The quota of requests per minute (20 of 20) is used up: "
        "the starter plan lifts it." in run.out
    )
    assert "run     meterway billing plan starter" in run.out
    assert f"or open {gw.url}/dashboard/billing?upgrade=starter#plans" in run.out
    data = json.loads((await meterway(gw, tmp_path, "billing", "status", "--json")).out)
    assert data["next"]["command"] == "meterway billing plan starter"


@pytest.mark.timeout(480)  # several runs of the CLI, each a Python start-up
async def test_errors_exit_1_and_tokens_are_never_arguments(gw: Gateway, tmp_path: Path) -> None:
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 1 and "no token: put it in" in run.err and run.out == ""
    login(tmp_path, "mw-not-a-real-key")
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 1 and "401" in run.err
    run = await meterway(gw, tmp_path, "billing", "status", "--token", "mw-secret")
    assert run.code == 2 and "unrecognized arguments: --token" in run.err
    t = await tenant(gw)  # a proxy-only key lacks account:read
    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 1 and "account:read" in run.err


async def test_setup_portal_and_topup_print_the_payment_url(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, scopes=[*STATUS_SCOPES, "billing", "billing:setup"])
    login(tmp_path, t.key)
    pages = {"setup": "checkout/cs_", "portal": "portal/bps_", "topup": "checkout/cs_"}
    for argv in (("setup",), ("portal",), ("topup", "--amount", "12.50")):
        run = await meterway(gw, tmp_path, "billing", *argv)
        assert run.code == 0, run  # the local provider's page, in full: a terminal has no base
        page = f"{gw.url}/billing/local/{pages[argv[0]]}"
        assert run.out.splitlines()[-1].startswith(page), run.out
    run = await meterway(gw, tmp_path, "billing", "topup", "--amount", "0.0000001")
    assert run.code == 2 and "finer than $0.000001 (one micro)" in run.err  # a usage error


@pytest.mark.timeout(480)  # several runs of the CLI, each a Python start-up
async def test_admin_commands_over_the_admin_api(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, scopes=STATUS_SCOPES)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "admin", "accounts", "--query", t.account_id)
    assert run.code == 0 and t.account_id in run.out and "pro" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "keys", t.account_id)
    assert run.code == 0 and t.key_id in run.out and "never" in run.out, run
    credit = ("admin", "credit", t.account_id, "--amount", "2.5", "--idempotency-key", "cli-1")
    run = await meterway(gw, tmp_path, *credit)
    assert run.code == 0 and "balance $12.50" in run.out, run
    run = await meterway(gw, tmp_path, *credit)
    assert "replay" in run.out and "balance $12.50" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "plan", t.account_id, "starter")
    assert run.code == 0 and "is on starter (prepaid)" in run.out, run
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    await gw.settle_all()
    run = await meterway(
        gw, tmp_path, "admin", "usage", t.account_id, "--group-by", "model", "--csv"
    )
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert run.code == 0 and [r["model"] for r in rows] == ["gpt-4o-mini"], run
    assert int(rows[0]["requests"]) == 1 and int(rows[0]["spend_micros"]) > 0


async def test_return_url_is_sent_and_checked(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, scopes=[*STATUS_SCOPES, "billing", "billing:setup"])
    login(tmp_path, t.key)
    mine = f"{gw.url}/my/billing?from=cli"  # the gateway's own origin is always allowed
    argv = ("billing", "topup", "--amount", "5", "--return-url", mine, "--json")
    run = await meterway(gw, tmp_path, *argv)
    assert run.code == 0, run
    page = json.loads(run.out)
    assert page["url"].startswith(f"{gw.url}/billing/local/checkout/cs_")
    session = await gw.app[LOCAL_PROVIDER].store.get(page["id"])
    assert session is not None and session["return_url"] == mine
    run = await meterway(gw, tmp_path, "billing", "portal", "--return-url", "https://evil.example/")
    assert run.code == 2 and "'return_url' must be on an allowed origin" in run.err, run


async def test_timeout_and_version(gw: Gateway, tmp_path: Path) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the request, never answers, until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    login(tmp_path, "mw-anything")
    async with server:
        argv = ("billing", "status", "--timeout", "0.3")
        run = await meterway(gw, tmp_path, *argv, api_url=f"http://127.0.0.1:{port}")
    assert run.code == 1 and "did not answer within 0.3 s" in run.err, run
    run = await meterway(gw, tmp_path, "billing", "status", "--timeout", "0")
    assert run.code == 2 and "--timeout" in run.err
    run = await meterway(gw, tmp_path, "--version")
    assert run.code == 0 and run.out.startswith("meterway "), run
