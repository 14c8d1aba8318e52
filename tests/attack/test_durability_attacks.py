"""Attacks on durability (docs/concepts/durability.md, docs/concepts/what-gets-billed.md):
the gateway reaches Redis through a proxy of the test's own that can go silent (a connection
that passes no bytes) or down (connections reset, connects refused), in front of a provider
that fails, holds its answer, or answers a client that left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from gateway.stores.errors import HotStoreUnavailable
from tests.attack.calls import chat
from tests.attack.provider import Provider, fake_provider
from tests.support.factories import Tenant, ledger, tenant
from tests.support.harness import REDIS_URL, Gateway, running_gateway, temp_database

REPLY_S = 1.0  # REDIS_REPLY_TIMEOUT_S
CONNECT_S = 1.0  # REDIS_CONNECT_TIMEOUT_S


@dataclass
class RedisProxy:
    """TCP between the gateway and Redis: `pass`, `silent` (bytes read and dropped both
    ways), or `down` (every connection reset, the port refusing)."""

    port: int = 0
    mode: str = "pass"
    server: asyncio.Server | None = None
    conns: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.mode = "pass"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = urlparse(REDIS_URL)
        try:
            up_r, up_w = await asyncio.open_connection(target.hostname, target.port or 6379)
        except OSError:
            writer.close()
            return
        self.conns.update((writer, up_w))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    if self.mode == "pass":
                        dst.write(data)
                        await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pump(reader, up_w), pump(up_r, writer))
        self.conns.discard(writer)
        self.conns.discard(up_w)

    def silence(self) -> None:
        self.mode = "silent"

    def speak(self) -> None:
        self.mode = "pass"

    async def down(self) -> None:
        self.mode = "down"
        assert self.server is not None
        self.server.close()
        for w in list(self.conns):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self.conns.clear()
        await self.server.wait_closed()

    async def up(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for w in list(self.conns):
            with contextlib.suppress(Exception):
                w.transport.abort()


@dataclass
class World:
    gw: Gateway
    p: Provider
    redis: RedisProxy
    journal: Path  # this gateway's journal directory (SETTLE_JOURNAL_DIR/<REDIS_PREFIX>)
    # what the silent-Redis test journaled (copied while it held the settlement), and whose
    journal_copy: dict[str, bytes] = field(default_factory=dict)
    journal_tenant: Tenant | None = None


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    root = tmp_path_factory.mktemp("journal")
    proxy = RedisProxy()
    await proxy.start()
    env = {
        "REDIS_URL": proxy.url,
        "REDIS_REPLY_TIMEOUT_S": str(REPLY_S),
        "REDIS_CONNECT_TIMEOUT_S": str(CONNECT_S),
        "SETTLE_JOURNAL_DIR": str(root),
    }
    try:
        async with (
            temp_database() as dsn,
            fake_provider() as p,
            running_gateway(dsn, None, OPENAI_BASE_URL=p.url + "/v1", **env) as gw,
        ):
            yield World(gw, p, proxy, root / gw.settings.redis_prefix)
            if proxy.mode != "pass":
                await proxy.up()
    finally:
        await proxy.close()


async def account(gw: Gateway, account_id: str) -> dict[str, Any]:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}")
    assert status == 200, body
    return dict(body)


async def settled_debits(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    """The account's debit rows once what Redis queued reached the ledger (each pooled
    connection an outage broke fails once: tried again)."""
    for _ in range(50):
        with contextlib.suppress(HotStoreUnavailable):
            await gw.settle_all()
            break
        await asyncio.sleep(0.1)
    return [r for r in await ledger(gw, account_id) if r["kind"] == "debit"]


async def until(predicate: Any, what: str, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.1)


def journal_bytes(journal: Path) -> dict[str, bytes]:
    if not journal.is_dir():
        return {}
    return {f.name: f.read_bytes() for f in journal.iterdir() if f.is_file()}


async def test_a_provider_that_fails_bills_nothing_and_releases_the_hold(world: World) -> None:
    """durability.md: the provider fails: nothing is billed; the hold is released."""
    gw, p = world.gw, world.p
    t = await tenant(gw, credit=1_000_000)
    p.status = 500
    try:
        status, cost, body = await chat(gw, t.key, prompt=f"fail {secrets.token_hex(3)}")
    finally:
        p.status = 200
    assert status >= 500 and cost is None, (status, body)
    assert await settled_debits(gw, t.account_id) == []
    acct = await account(gw, t.account_id)
    assert (acct["balance_micros"], acct["held_micros"]) == (1_000_000, 0), acct
    assert acct["ledger_balance_micros"] == 1_000_000, acct


async def test_a_client_that_leaves_is_billed_once_for_the_forwarded_call(world: World) -> None:
    """durability.md: the client leaves: a call already forwarded runs to its end and is
    billed (what-gets-billed.md: non-streaming client disconnects: in full, if the provider
    completes the call)."""
    gw, p = world.gw, world.p
    t = await tenant(gw, credit=1_000_000)
    p.hold()
    task = asyncio.create_task(chat(gw, t.key, prompt=f"leaving {secrets.token_hex(3)}"))
    await asyncio.wait_for(p.arrived.wait(), 60)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    p.release()

    async def one_debit() -> bool:
        return len(await settled_debits(gw, t.account_id)) >= 1

    await until(one_debit, "the left call's debit")
    rows = await settled_debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-450], rows
    acct = await account(gw, t.account_id)
    assert (acct["balance_micros"], acct["held_micros"]) == (1_000_000 - 450, 0), acct


async def test_silent_redis_journals_the_settle_and_bills_it_once(world: World) -> None:
    """durability.md: Nothing is written while Redis answers in time. A settle not sent
    within the 1.5 s answer budget, or sent and not answered within 0.25 s, is journaled; its
    answer then goes out. The process keeps retrying each journaled settlement and marks it
    taken when Redis answers; a file whose settlements were all taken is emptied. A request
    id is debited once."""
    gw, p, journal = world.gw, world.p, world.journal
    t = await tenant(gw, credit=1_000_000)
    status, cost, body = await chat(gw, t.key, prompt=f"calm {secrets.token_hex(3)}")
    assert (status, cost) == (200, 450), body
    assert all(not data for data in journal_bytes(journal).values()), journal_bytes(journal)
    p.hold()
    task = asyncio.create_task(chat(gw, t.key, prompt=f"silent {secrets.token_hex(3)}"))
    await asyncio.wait_for(p.arrived.wait(), 60)
    world.redis.silence()
    p.release()
    started = time.monotonic()
    try:
        status, cost, body = await task
        took = time.monotonic() - started
        assert (status, cost) == (200, 450), (status, body)
        assert took < 1.5 + 0.25 + 1.0, took  # the answer budget, and a margin
        written = {n: d for n, d in journal_bytes(journal).items() if d}
        assert written, "the answer went out with its settle neither taken nor journaled"
        world.journal_copy = written
    finally:
        world.redis.speak()

    async def two_debits() -> bool:
        return len(await settled_debits(gw, t.account_id)) >= 2

    await until(two_debits, "the journaled settlement's debit")

    async def emptied() -> bool:
        return all(not data for data in journal_bytes(journal).values())

    await until(emptied, "the journal emptied once its settlement was taken")
    rows = await settled_debits(gw, t.account_id)
    assert sorted(r["amount_micros"] for r in rows) == [-450, -450], rows
    assert len({r["request_id"] for r in rows}) == 2, rows
    acct = await account(gw, t.account_id)
    assert acct["balance_micros"] == acct["ledger_balance_micros"] == 1_000_000 - 900, acct
    assert acct["held_micros"] == 0, acct
    world.journal_tenant = t


async def test_a_dead_processs_journal_of_taken_settlements_debits_nothing(world: World) -> None:
    """durability.md: Every process looks for the files of processes that died (their lock is
    free) at start and every 5 s, takes one's lock, settles what it holds and removes it. A
    replay of a settlement Redis had already taken changes nothing: a request id is debited
    once. (The previous test's journal, copied while it held the settlement, is laid down
    again as a file no process holds.)"""
    gw, journal = world.gw, world.journal
    copy, t = world.journal_copy, world.journal_tenant
    assert copy and t is not None, "the silent-Redis test did not journal"
    before = await account(gw, t.account_id)
    names = []
    for name, data in copy.items():
        stem, dot, ext = name.partition(".")
        dead = f"{stem}{secrets.token_hex(2)}{dot}{ext}" if dot else f"{name}{secrets.token_hex(2)}"
        (journal / dead).write_bytes(data)
        names.append(dead)

    async def replayed() -> bool:
        return not any((journal / n).exists() and (journal / n).stat().st_size for n in names)

    await until(replayed, f"a replay of {names} in {sorted(os.listdir(journal))}", within_s=30)
    rows = await settled_debits(gw, t.account_id)
    assert sorted(r["amount_micros"] for r in rows) == [-450, -450], rows
    after = await account(gw, t.account_id)
    assert after["balance_micros"] == before["balance_micros"] == 1_000_000 - 900, after
    assert after["ledger_balance_micros"] == 1_000_000 - 900, after


async def test_a_streams_end_waits_for_its_settle_or_the_journal(world: World) -> None:
    """durability.md: no answer's end (... a stream's `[DONE]` ...) goes out before Redis
    answered its settle or the journal holds it on disk, on every stream shape; replayed, it
    is debited once."""
    gw, p, journal = world.gw, world.p, world.journal
    t = await tenant(gw, credit=1_000_000)
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 500,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": f"stream {secrets.token_hex(3)}"}],
    }
    p.hold()
    seen: list[dict[str, bytes]] = []
    lines: list[bytes] = []

    async def read_stream() -> int:
        async with gw.http.post(
            gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {t.key}"}, json=body
        ) as r:
            async for line in r.content:
                lines.append(line)
                if line.strip() == b"data: [DONE]":
                    seen.append({n: d for n, d in journal_bytes(journal).items() if d})
            return r.status

    task = asyncio.create_task(read_stream())
    try:
        await asyncio.wait_for(p.arrived.wait(), 60)
        world.redis.silence()
        p.release()
        assert await task == 200, lines
    finally:
        world.redis.speak()
    seen_at_done = seen[0] if seen else None
    assert seen_at_done is not None, lines
    assert seen_at_done, "[DONE] went out with its settle neither taken nor journaled"

    async def one_debit() -> bool:
        return len(await settled_debits(gw, t.account_id)) >= 1

    await until(one_debit, "the stream's debit")
    rows = await settled_debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-450], rows
    acct = await account(gw, t.account_id)
    assert acct["balance_micros"] == acct["ledger_balance_micros"] == 1_000_000 - 450, acct


async def test_silent_redis_at_admission_refuses_within_the_bounds_and_forwards_nothing(
    world: World,
) -> None:
    """durability.md: Redis is down [here: silent, a connection that passes no bytes]:
    billable calls get 503 naming it; nothing is forwarded unmetered. A call waits at most
    1.5 x `REDIS_REPLY_TIMEOUT_S` for a connection gone silent to be closed, then
    `REDIS_CONNECT_TIMEOUT_S` for the one connect every waiting call shares."""
    gw, p = world.gw, world.p
    t = await tenant(gw, credit=1_000_000)
    sent = len(p.received)
    world.redis.silence()
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(chat(gw, t.key, prompt=f"blackhole {n} {secrets.token_hex(3)}") for n in range(5))
        )
        took = time.monotonic() - started
        for status, cost, body in results:
            assert status == 503 and cost is None, (status, body)
            assert '"store": "redis"' in json.dumps(body), body
        assert took <= 1.5 * REPLY_S + CONNECT_S + 1.0, took  # a margin for a loaded machine
        assert len(p.received) == sent, "a call was forwarded while Redis was silent"
    finally:
        world.redis.speak()

    await served_once_back(gw, t.key, t.account_id)


async def served_once_back(gw: Gateway, key: str, account_id: str) -> None:
    """Calls are served again once Redis answers, and the one served is debited once."""
    last: list[Any] = []

    async def served() -> bool:
        last[:] = await chat(gw, key, prompt=f"back {secrets.token_hex(3)}")
        return bool(last[0] == 200)

    try:
        await until(served, "calls served once Redis answers", within_s=30)
    except AssertionError as exc:
        raise AssertionError((str(exc), last)) from exc
    rows = await settled_debits(gw, account_id)
    assert [r["amount_micros"] for r in rows] == [-450], rows


async def test_redis_down_refuses_billable_calls_within_the_bounds_and_forwards_nothing(
    world: World,
) -> None:
    """durability.md: Redis is down: billable calls get 503 naming it (`"store": "redis"`):
    nothing is forwarded unmetered. A call waits at most 1.5 x `REDIS_REPLY_TIMEOUT_S` ...
    then `REDIS_CONNECT_TIMEOUT_S` ...; once that connect failed, Redis is known down and calls
    are refused at once, while a connect is tried in the background every 0.5 s."""
    gw, p = world.gw, world.p
    t = await tenant(gw, credit=1_000_000)
    sent = len(p.received)
    await world.redis.down()
    try:
        started = time.monotonic()
        status, cost, body = await chat(gw, t.key, prompt=f"down {secrets.token_hex(3)}")
        first = time.monotonic() - started
        assert status == 503 and cost is None, (status, body)
        assert '"store": "redis"' in json.dumps(body), body
        assert first <= 1.5 * REPLY_S + CONNECT_S + 1.0, first  # a margin for a loaded machine
        started = time.monotonic()
        status, _, body = await chat(gw, t.key, prompt=f"down again {secrets.token_hex(3)}")
        again = time.monotonic() - started
        assert status == 503 and '"store": "redis"' in json.dumps(body), (status, body)
        assert again < 0.5, again  # known down: refused at once
        assert len(p.received) == sent, "a call was forwarded while Redis was down"
    finally:
        await world.redis.up()

    await served_once_back(gw, t.key, t.account_id)
    acct = await account(gw, t.account_id)
    assert acct["balance_micros"] == acct["ledger_balance_micros"] == 1_000_000 - 450, acct
