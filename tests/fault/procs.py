"""Real processes for fault tests: `meterway serve` and `meterway settler` as subprocesses
that a test can kill -9, plus test data made straight through the stores."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from billing.metering.usage import Usage
from billing.money.plans import load_plans
from gateway.config.settings import Settings, load_settings
from gateway.ops.rebuild import rebuild
from gateway.services.auth import new_id
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.stores.connect import Stores, open_stores
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.keys import shard_of
from tests.support.harness import REDIS_URL, die_with_parent, drop_prefix, redis_answers

LIVE: set[Proc] = set()


class Proc:
    """One `meterway <command>` child process."""

    def __init__(self, env: dict[str, str], command: str) -> None:
        self.env = env
        self.command = command
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            *self.command.split(),
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        LIVE.add(self)

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            await self.proc.wait()
        self.proc = None
        LIVE.discard(self)


async def run_command(env: dict[str, str], *args: str) -> tuple[int, str]:
    """One `meterway <args>` run to its end: (exit code, stdout and stderr together)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


async def wait_healthy(url: str, timeout_s: float = 60.0) -> None:
    """Until `url` answers /healthz. A gateway alone starts in a few seconds; five starting
    at once beside the rest of the suite on CI's two cores once took over 20."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} never became healthy")


@asynccontextmanager
async def fault_stores(env: dict[str, str]) -> AsyncIterator[tuple[Settings, Stores]]:
    """The stores of a private prefix, rebuilt (ready markers set); dropped afterwards."""
    settings = load_settings(env)
    try:
        async with open_stores(settings) as stores:
            await redis_answers(stores.redis)
            await rebuild(stores, load_plans(settings.plans_path))
            yield settings, stores
    finally:
        await drop_prefix(REDIS_URL, settings.redis_prefix)


@dataclass
class Serving:
    """A `meterway serve` child on a private prefix, with one funded tenant."""

    url: str
    stores: Stores
    tenant: Tenant
    gateway: Proc


@asynccontextmanager
async def serving(env: dict[str, str], credit: int) -> AsyncIterator[Serving]:
    """fault_stores(env), a tenant with `credit`, and the gateway started and healthy."""
    url = f"http://{env['LISTEN_ADDR']}"
    async with fault_stores(env) as (_, stores):
        tenant = await make_tenant(stores, credit)
        gateway = Proc(env, "serve")
        await gateway.start()
        await wait_healthy(url)
        yield Serving(url, stores, tenant, gateway)


@dataclass
class Tenant:
    account_id: str
    key: str
    record: KeyRecord


async def make_tenant(stores: Stores, credit: int, plan: str = "enterprise") -> Tenant:
    """An account, a credit applied to Redis, and a key, as the admin API would make them."""
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, plan, "prepaid")
    done = await stores.ledger.credit(acct, credit, "seed", "test")
    await stores.store.put_account(
        acct, plan=plan, mode="prepaid", billing_ready=True, quotas=(), markup_bps=0
    )
    await stores.store.apply_credit(acct, done.entry_id, credit)
    issued = await issue_key(stores.ledger, stores.store, acct, KeySpec("k"))
    record = KeyRecord(issued.key_id, acct, shard_of(acct), "k", (), ())
    return Tenant(acct, issued.secret, record)


async def settle_directly(stores: Stores, tenant: Tenant, n: int) -> dict[str, int]:
    """n reserve + settle pairs through the real scripts; returns request id -> cost."""
    costs: dict[str, int] = {}
    for i in range(n):
        rid = f"req_{secrets.token_hex(8)}"
        await stores.store.reserve(
            rid, tenant.record, input_tokens=10, max_output_tokens=10, spend_micros=1000
        )
        cost = 100 + i % 7
        usage = Usage(input_tokens=10, output_tokens=5)
        r = tenant.record
        await stores.store.settle(
            r.shard, r.account_id, rid, Settlement("demo-gpt", "openai", usage, cost)
        )
        costs[rid] = cost
    return costs
