"""`meterway billing byok*` and `meterway admin byok*` as a person runs them: the key read
from standard input (never the command line), shown back only as its hint."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.e2e.cli.test_cli_billing import Run, login, meterway
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway

OWN = "own-key-cli-Hq3nW8sK"


async def _piped(gw: Gateway, home: Path, stdin: str, *argv: str) -> Run:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "METERWAY_API_URL": gw.url}
    env.pop("METERWAY_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *argv, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate(stdin.encode())
    return Run(int(proc.returncode or 0), out.decode(), err.decode())


async def test_own_keys_from_the_terminal(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, scopes=["chat", "account:read", "org:write"])
    login(tmp_path, t.key)
    run = await _piped(gw, tmp_path, OWN + "\n", "billing", "byok-set", "openai")
    assert run.code == 0, run
    assert "..." + OWN[-4:] in run.out and OWN not in run.out + run.err
    run = await meterway(gw, tmp_path, "billing", "byok")
    assert run.code == 0 and "openai" in run.out and OWN not in run.out, run
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "admin", "byok-fee", "--percent-bps", "500")
    assert run.code == 0 and "5% of the list price" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "byok", "--upstream", "openai")
    assert run.code == 0 and t.account_id in run.out and OWN not in run.out, run
    run = await meterway(gw, tmp_path, "billing", "byok-remove", "openai")
    assert run.code == 0 and "removed" in run.out, run
