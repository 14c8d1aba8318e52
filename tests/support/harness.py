"""Real services for tests: a private PostgreSQL database, a private Redis key prefix, the
fake provider, and the gateway itself on a free port."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from billing.metering.tokens import TokenCounter
from gateway.app import create_app
from gateway.config.settings import DEFAULT_CONFIG_DIR, Settings, load_settings
from gateway.devtools.demo_upstream import RunningUpstream, UpstreamControl, start_upstream
from gateway.http.appkeys import METER, STORES
from gateway.http.server import GatewayRunner, start_sites
from gateway.stores.connect import Stores, open_hot_store, open_stores, redis_clients
from gateway.stores.ports.hot import SHARDS
from gateway.stores.redis.hotstore import HotStore
from gateway.workers.settler import Settler
from tests.support.pg_template import migrated_template

PG_ADMIN = os.environ.get("MW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MW_TEST_REDIS", "redis://127.0.0.1:6379/0")
ADMIN_KEY = "test-admin-key-0123456789"
COUNTER = TokenCounter()


# A port free_port() found can be taken before the gateway binds it: an outgoing
# connection's ephemeral port comes from the same range (the suite: 'address already in use').
BIND_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def temp_database(template: str | None = None) -> AsyncIterator[str]:
    """A database of its own, dropped after: a copy of `template` (a database nobody is
    connected to), or of the migrated template (tests/support/pg_template.py)."""
    name = f"mwtest_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN)
    template = template or await migrated_template(admin, PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def listening_socket() -> socket.socket:
    """A socket bound to a free 127.0.0.1 port and kept: its port cannot be taken.

    `free_port()` closes its socket, so on a busy machine an outgoing connection
    can be given that port before the fake binds it (EADDRINUSE). A fake built in
    this process holds the socket from choosing the port to serving on it.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


# The fakes listen as `meterway serve` does (gateway/http/server.py): at aiohttp's default
# (128) a 200-call burst's SYNs past it are dropped, and their retries can outlast a
# connect timeout on a slow machine.
LISTEN_BACKLOG = 4096


async def listen(runner: web.AppRunner, sock: socket.socket | None = None) -> int:
    """Start `runner` on `sock` (or a fresh `listening_socket()`); the port it serves."""
    sock = sock or listening_socket()
    await web.SockSite(runner, sock, backlog=LISTEN_BACKLOG).start()
    return port_of(sock)


@asynccontextmanager
async def serving(app: web.Application, sock: socket.socket) -> AsyncIterator[None]:
    """`app` listening on `sock` (from `listening_socket()`) while the block runs."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await listen(runner, sock)
    try:
        yield
    finally:
        await runner.cleanup()


async def redis_answers(client: aioredis.Redis, within_s: float = 30.0) -> None:
    """Wait until this test's own Redis client has connected.

    The gateway connects with a 2 s timeout and no retry (a gateway that cannot reach
    Redis fails closed and its restorer tries again). A test's own first connection is
    not under test: on a loaded 2-core machine (the compiled build and valgrind running
    beside it) one connect took longer than 2 s, so a test's setup tries again.
    """
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            await client.ping()
            return
        except (aioredis.ConnectionError, aioredis.TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def drop_prefix(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    async for batch in _scan(client, f"{prefix}:*"):
        await client.delete(*batch)
    await client.aclose()


# A provider URL nothing answers on: for stores opened without a gateway in front of them.
NOWHERE = "http://127.0.0.1:9"


@asynccontextmanager
async def opened_stores(dsn: str, tag: str = "mwt") -> AsyncIterator[Stores]:
    """Both adapters on `dsn` and a private Redis prefix (`tag` and a random suffix, dropped
    after), opened the way `meterway serve` opens them, Redis marked ready."""
    prefix = f"{tag}{secrets.token_hex(4)}"
    settings = load_settings(gateway_env(dsn, NOWHERE, prefix))
    try:
        async with open_stores(settings) as opened:
            await opened.store.mark_ready()
            yield opened
    finally:
        await drop_prefix(REDIS_URL, prefix)


async def drop_keys(settings: Settings) -> None:
    """Delete a test's key prefix on its Redis or Redis Cluster (SCAN per master there)."""
    client, wire = redis_clients(settings)
    try:
        async for batch in _scan(client, f"{settings.redis_prefix}:*"):
            await client.delete(*batch)
    finally:
        await client.aclose()
        if wire is not None:
            await wire.close()


async def _scan(client: aioredis.Redis, pattern: str) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            yield batch
            batch = []
    if batch:
        yield batch


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """`preexec_fn` of a test's child process (Linux): it gets SIGKILL when the test process
    dies, as a worker a test's timeout kills does, so no child is left holding a port or the
    run's output open."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# What a gateway whose webhooks, alerts or exports go to this test's local receivers
# (tests/support/fakes/webhook_sink.py, the export fakes) admits on purpose: 127.0.0.1 over
# plain http.
LOCAL_SINKS = {"EGRESS_ALLOW_HOSTS": "127.0.0.1", "EGRESS_ALLOW_HTTP": "1"}


# The test gateways' BYOK_ENCRYPTION_KEY (base64 of 32 bytes): customers' own provider keys
# can be stored (docs/guides/byok.md); a test without it sets it to "".
BYOK_TEST_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
# Test gateways journal outside the checkout; each prefix has a directory of its own there.
JOURNAL_DIR = os.path.join(tempfile.gettempdir(), "meterway-test-journals")


def gateway_env(dsn: str, upstream_url: str, prefix: str, **env: str) -> dict[str, str]:
    """The environment of a test gateway: a free port, a private key prefix, the fake
    provider behind every provider name, the test clock, and the local payment provider
    (named: with no provider named, nothing can be paid for)."""
    base = {
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS_URL,
        "ADMIN_API_KEY": ADMIN_KEY,
        "LISTEN_ADDR": f"127.0.0.1:{free_port()}",
        "REDIS_PREFIX": prefix,
        "OPENAI_BASE_URL": upstream_url + "/v1",
        "ANTHROPIC_BASE_URL": upstream_url,
        "MW_TEST_CLOCK": "1",
        "PAYMENTS_PROVIDER": "local",
        "UPSTREAM_TIMEOUT_S": "30",
        "BYOK_ENCRYPTION_KEY": BYOK_TEST_KEY,
        # Tests start gateways with pricing files of their own on a shared database: each
        # bills its own (tests/e2e/test_prices_at_start.py reviews them).
        "PRICE_CHANGES_AT_START": "apply",
        "SETTLE_JOURNAL_DIR": JOURNAL_DIR,
    }
    for name in ("google", "deepseek", "mistral"):
        base[f"{name.upper()}_BASE_URL"] = upstream_url + "/v1"
    if "PYTHONPATH" in os.environ:  # the compiled build's copy (tests/speed/test_compiled_build.py)
        base["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if "GOOGLE_API_KEY" in env:  # the gemini provider it makes (an operator's table wins)
        base["GEMINI_BASE_URL"] = upstream_url + "/v1beta"
    base.update(env)
    return base


async def store_cli(gw: Gateway, *args: str, **env: str) -> tuple[int, str, str]:
    """`meterway ARGS` run as an operator runs it beside this gateway, on its database and
    Redis prefix (commands that open the stores themselves): (exit code, stdout, stderr)."""
    return await stores_cli(gw.settings.database_url, gw.settings.redis_prefix, *args, **env)


async def stores_cli(dsn: str, prefix: str, *args: str, **env: str) -> tuple[int, str, str]:
    """`meterway ARGS` on a database and Redis prefix with no gateway running."""
    full = {
        **os.environ,
        **gateway_env(dsn, "http://127.0.0.1:9", prefix),
        **LOCAL_SINKS,
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args, env=full,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode(), err.decode()


def config_dir_with(path: Path, **appended: str) -> Path:
    """A copy of the shipped config directory at `path` (for MW_CONFIG_DIR), with text
    appended to its files by stem: `pricing=...`, `plans=...`, `meters=...`."""
    for stem in ("pricing", "plans", "meters"):
        text = (DEFAULT_CONFIG_DIR / f"{stem}.toml").read_text()
        (path / f"{stem}.toml").write_text(text + appended.get(stem, ""))
    return path


def gateway_settings(
    dsn: str, upstream_url: str, prefix: str, config: Path | None = None, **env: str
) -> Settings:
    return load_settings(gateway_env(dsn, upstream_url, prefix, **env), config)


@dataclass
class Gateway:
    url: str
    settings: Settings
    app: web.Application
    upstream: RunningUpstream
    http: aiohttp.ClientSession

    @property
    def store(self) -> HotStore:
        return self.app[STORES].store

    @property
    def control(self) -> UpstreamControl:
        return self.upstream.control

    def stores(self) -> Stores:
        return self.app[STORES]

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, self.url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as r:
            return r.status, await r.json()

    async def settle_all(self) -> None:
        """Wait for in-flight settlements, then drain the streams into the ledger."""
        await self.app[METER].drain()
        stores = self.stores()
        await stores.store.leases.close_all()  # what leased calls appended, applied
        await Settler(stores.settlement_stream(), stores.ledger).drain()

    async def backlog_length(self) -> int:
        return (await self.store.backlog()).length

    async def advance_clock(self, ms: int) -> None:
        """Move the gateway's (Redis-side) clock forward for every shard."""
        await advance_test_clock(self.store, ms)


async def advance_test_clock(store: HotStore, ms: int) -> None:
    """Move a hot store's test clock (MW_TEST_CLOCK: an offset on Redis's own) forward by
    `ms` for every shard."""
    async with store.redis.pipeline(transaction=False) as pipe:
        for shard in range(SHARDS):
            pipe.incrby(store.keys.clock(shard), ms)
        await pipe.execute()


async def _cleanup(runner: web.AppRunner) -> None:
    """A gateway that cannot stop in 20 s is a bug: say where it is stuck."""
    task = asyncio.ensure_future(runner.cleanup())
    done, _ = await asyncio.wait({task}, timeout=20)
    if not done:
        for other in asyncio.all_tasks():
            other.print_stack(limit=5)
        raise TimeoutError("gateway did not shut down within 20 s")
    task.result()


@asynccontextmanager
async def running_gateway(
    dsn: str, config: Path | None = None, **env: str
) -> AsyncIterator[Gateway]:
    """The gateway on a free port in front of the fake provider; `config` is a TOML file
    (`meterway serve --config`), e.g. for `[providers.NAME]` tables."""
    prefix = f"mwt{secrets.token_hex(4)}"
    control = UpstreamControl(counter=lambda text: COUNTER.count_text("o200k_base", text))
    upstream = await start_upstream(control=control)
    settings = gateway_settings(dsn, upstream.url, prefix, config, **env)
    async with open_hot_store(settings) as hot:
        # Ready before start: `serve` restores a Redis without markers from the ledger, and
        # the shared test database holds every test's accounts, not this test's to load.
        await hot.mark_ready()
    for attempt in range(BIND_ATTEMPTS):
        if attempt:  # a new free port (LISTEN_ADDR); the prefix, marked ready above, stays
            env = _moved(env, settings.listen_port)
            settings = gateway_settings(dsn, upstream.url, prefix, config, **env)
        app = create_app(settings, counter=COUNTER)
        runner = GatewayRunner(app, settings)
        await runner.setup()
        try:
            await start_sites(runner, settings)
            break
        except OSError as exc:  # the free port was taken meanwhile (another connection's)
            await _cleanup(runner)
            if exc.errno != errno.EADDRINUSE or attempt == BIND_ATTEMPTS - 1:
                await upstream.close()
                raise
    await app[STORES].store.mark_ready()
    http = aiohttp.ClientSession()
    try:
        yield Gateway(f"http://127.0.0.1:{settings.listen_port}", settings, app, upstream, http)
    finally:
        await http.close()
        await _cleanup(runner)
        await upstream.close()
        await drop_keys(settings)


def _moved(env: dict[str, str], taken: int) -> dict[str, str]:
    """`env` for another try on a new free port: a test that named the port itself (a
    LISTEN_ADDR, with its PUBLIC_URL on it) has it replaced in every value that names it."""
    if "LISTEN_ADDR" not in env:
        return env
    old, new = f"127.0.0.1:{taken}", f"127.0.0.1:{free_port()}"
    return {k: v.replace(old, new) for k, v in env.items()}


@asynccontextmanager
async def gateway_with_providers(
    dsn: str, tmp_path: Path, pricing: str, providers: str, **env: str
) -> AsyncIterator[tuple[Gateway, RunningUpstream]]:
    """The gateway with `[providers.NAME]` tables (`providers`, where `{url}` stands for
    the fake provider's) and `pricing` appended to the shipped models, and `env` besides;
    settled at exit."""
    config_dir_with(tmp_path, pricing=pricing)
    async with await start_upstream(control=UpstreamControl()) as fake:
        config = tmp_path / "meterway.toml"
        config.write_text(providers.replace("{url}", fake.url))
        async with running_gateway(dsn, config, MW_CONFIG_DIR=str(tmp_path), **env) as gw:
            yield gw, fake
            await gw.settle_all()
