"""Redis work per metered call, measured so that it does not depend on the machine: each kind
of call (plain, streamed, a batch line, a Realtime response, an MCP tool call) runs CALLS
times against a gateway on a private `redis-server` this module starts, and Redis's own
`INFO commandstats` says what it ran: how many times each command was called, scripts and
the commands they call inside both counted. The gateway's settler is off and the
settlements are drained after the count: how the stream is batched into the ledger is the
settler's work, not the call's.

The counts are the guard (tests/integration/test_redis_work.py, the fast lane): the same
code asks the same commands on any machine. The scripts' time a call is reported beside
them, in µs on the machine that ran it, and not held: on a shared machine it moves several
fold between runs (as did its ratio to an INCRBY timed by the same server, tried first).

`python -m tests.bench.redis_work` prints the figures; `--update` writes them to
`redis_work_baseline.json` beside this module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
import websockets

from gateway.http.appkeys import METER
from tests.support.factories import openai_client, tenant
from tests.support.fakes.mcp_tools import INIT, mcp_config, rpc, running_tools
from tests.support.fakes.realtime import fake_realtime
from tests.support.harness import Gateway, free_port, running_gateway, temp_database

BASELINE = Path(__file__).with_name("redis_work_baseline.json")
KINDS = ("plain", "streamed", "batch_line", "realtime_response", "mcp_call")
CALLS = 20
# What the measuring itself, and a client's connection set-up, ask of Redis: not the call's.
NOT_WORK = frozenset({"config", "info", "ping", "client", "hello", "select", "script"})
SCRIPTS = ("evalsha", "eval")  # a script's time includes the commands it calls
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 20}


@dataclass(frozen=True)
class Work:
    """One kind's Redis work per metered call: calls of each command, and its scripts'
    time."""

    calls: dict[str, float]
    script_usec: float  # the scripts' time a call, in µs on this machine (not held)

    @property
    def commands(self) -> float:
        return round(sum(self.calls.values()), 2)

    @property
    def scripts(self) -> float:
        return round(sum(v for k, v in self.calls.items() if k in SCRIPTS), 2)


@asynccontextmanager
async def private_redis() -> AsyncIterator[str]:
    """A redis-server of this run's own (no other test's traffic in its counts)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        REDIS_SERVER, "--port", str(port), "--save", "", "--appendonly", "no",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = aioredis.Redis.from_url(url)
        for _ in range(200):
            try:
                await client.ping()
                break
            except (OSError, aioredis.ConnectionError):
                await asyncio.sleep(0.02)
        await client.aclose()
        yield url
    finally:
        proc.terminate()
        await proc.wait()


async def _stats(client: aioredis.Redis) -> dict[str, dict[str, float]]:
    info: dict[str, Any] = await client.info("commandstats")
    named = {k.removeprefix("cmdstat_"): v for k, v in info.items()}
    return {k: v for k, v in named.items() if k.split("|")[0] not in NOT_WORK}


async def measure(
    client: aioredis.Redis, gw: Gateway, run: Callable[[], Awaitable[None]], per: float
) -> Work:
    """What `run` asked of Redis per metered call, its settlements included (the gateway's
    own settler is off: draining the stream into the ledger, batched as it is, is the
    settler's work, not the call's)."""
    await client.config_resetstat()
    await run()
    await gw.app[METER].drain()  # every settle the calls started has answered
    stats = await _stats(client)
    await gw.settle_all()
    calls = {k: round(float(v["calls"]) / per, 2) for k, v in sorted(stats.items())}
    script_usec = sum(float(v["usec"]) for k, v in stats.items() if k in SCRIPTS) / per
    return Work(calls, round(script_usec, 1))


async def _chats(gw: Gateway, key: str, stream: bool, calls: int = CALLS) -> None:
    async with openai_client(gw, key) as client:
        for _ in range(calls):
            if stream:
                chunks = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, max_tokens=20, stream=True
                )
                async for _chunk in chunks:
                    pass
            else:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, max_tokens=20
                )


async def _batch(gw: Gateway, key: str) -> None:
    lines = [
        {"custom_id": f"l{n}", "method": "POST", "url": "/v1/chat/completions", "body": CHAT}
        for n in range(CALLS)
    ]
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    async with openai_client(gw, key) as client:
        uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await client.batches.retrieve(batch.id)
        assert done.status == "completed", done


async def _mcp(gw: Gateway, key: str) -> Callable[[], Awaitable[None]]:
    """A session opened outside the measure; the measure runs CALLS tool calls in it."""
    head = {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}
    async with gw.http.post(f"{gw.url}/mcp/tools", json=INIT, headers=head) as r:
        assert r.status == 200, await r.text()
        head["Mcp-Session-Id"] = r.headers["Mcp-Session-Id"]

    async def calls() -> None:
        for n in range(CALLS):
            call = rpc(n + 2, "tools/call", {"name": "search", "arguments": {"query": "q"}})
            async with gw.http.post(f"{gw.url}/mcp/tools", json=call, headers=head) as r:
                assert r.status == 200 and b'"error"' not in await r.read()

    return calls


async def _realtime(gw: Gateway, key: str, calls: int = CALLS) -> None:
    url = gw.url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
    headers = {"Authorization": f"Bearer {key}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await _until(ws, "session.created")
        for _ in range(calls):
            await ws.send(orjson.dumps({"type": "response.create"}).decode())
            await _until(ws, "response.done")


async def _until(ws: Any, kind: str) -> None:
    while orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != kind:
        pass


# The gateway's own settler is off (see `measure`), and its notifier looks once, at start:
# a round reads the balance of every account with new ledger activity in the database (the
# suite's shared one holds many), and one landing inside a measure counted its HMGETs as
# the calls' (plain read 4.4 HMGETs a call against 4.0 once, in a whole-suite run).
QUIET = {"SETTLER_DISABLED": "1", "NOTIFY_INTERVAL_S": "86400"}


async def measure_all(dsn: str, tmp: Path) -> dict[str, Work]:
    found: dict[str, Work] = {}
    async with private_redis() as url:
        client = aioredis.Redis.from_url(url)
        async with running_tools() as tools:
            config = tmp / "meterway.toml"
            config.write_text(mcp_config(tools.url))
            async with running_gateway(dsn, config, REDIS_URL=url, **QUIET) as gw:
                key = (await tenant(gw, credit=100_000_000)).key
                await _chats(gw, key, False, 1)  # scripts loaded, the key cached: not a call's
                found["plain"] = await measure(client, gw, lambda: _chats(gw, key, False), CALLS)
                found["streamed"] = await measure(client, gw, lambda: _chats(gw, key, True), CALLS)
                found["batch_line"] = await measure(client, gw, lambda: _batch(gw, key), CALLS)
                found["mcp_call"] = await measure(client, gw, await _mcp(gw, key), CALLS)
        async with (
            fake_realtime() as (rt_url, _),
            running_gateway(dsn, None, REDIS_URL=url, OPENAI_BASE_URL=rt_url, **QUIET) as gw,
        ):
            key = (await tenant(gw, credit=100_000_000)).key
            await _realtime(gw, key, 1)
            found["realtime_response"] = await measure(
                client, gw, lambda: _realtime(gw, key), CALLS
            )
        await client.aclose()
    return found


# Reported, not held: the gateway's upkeep loop (gateway/stores/redis/upkeep.py), which may
# run during a measure, and reserve.lua's window upkeep (a granule's expiry and clean-up),
# which runs when a call creates a granule, so as the clock falls: 0 or 1 a call from one
# run to the next.
UNHELD = frozenset({"zrangebyscore", "hlen", "pexpire", "pexpireat", "hkeys"})
# What a measure may differ by, per call, with nothing changed: a clock read or a key
# look-up falls in the window or out. A command more per call (1.0) is far past it.
SLACK_PER_COMMAND = 0.25
SLACK_SCRIPTS = 0.1


def grown(kind: str, now: dict[str, Any], before: dict[str, Any]) -> list[str]:
    """Where `now` asks more of Redis per call than `before` did, past the slack."""
    out = []
    if now["scripts"] > before["scripts"] + SLACK_SCRIPTS:
        out.append(f"{kind}: {now['scripts']} scripts a call, baseline {before['scripts']}")
    for name, calls in now["calls"].items():
        was = before["calls"].get(name, 0.0)
        if name not in UNHELD and calls > was + SLACK_PER_COMMAND:
            out.append(f"{kind}: {calls} {name.upper()} a call, baseline {was}")
    return out


def as_json(found: dict[str, Work]) -> dict[str, Any]:
    return {
        kind: {
            "commands": w.commands,
            "scripts": w.scripts,
            "script_usec": w.script_usec,
            "calls": w.calls,
        }
        for kind, w in found.items()
    }


async def _main(update: bool) -> None:
    import tempfile

    async with temp_database() as dsn:
        with tempfile.TemporaryDirectory() as tmp:
            found = as_json(await measure_all(dsn, Path(tmp)))
    print(json.dumps(found, indent=2))
    if update:
        BASELINE.write_text(json.dumps(found, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="write the baseline")
    asyncio.run(_main(parser.parse_args().update))


if __name__ == "__main__":
    main()
