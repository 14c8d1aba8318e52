"""The money core under a seeded scheduler (issue 46, item 5): a fixed set of seeds in
bounded time; `python -m tests.simulation --seeds N` runs as many as you like.

Each seed runs the real Lua scripts in Redis and the real settler writing to a PostgreSQL
database of its own, and checks after every step that no balance is below its floor, no
window past its limit, no request debited twice, and, drained, that the ledger equals the
balances (tests/support/invariants.py)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from billing.money.admission import Admitted
from gateway.services.money.credits import post_credit
from gateway.workers.settler import Settler
from tests.simulation import checks, steps
from tests.simulation.run import Outcome, run_seed, seed_stores, template
from tests.simulation.world import Flight, World, populate
from tests.support.invariants import check_invariants, money_violations

SEEDS = (0, 1, 2, 3, 4, 6)
STEPS = 40
EVERY_SEED = 3  # its EVERY_STEPS steps take every kind of step at least once
EVERY_STEPS = 100
KINDS = (
    "reserve", "settle ", "release", "settle-again", "credit", "adjust", "advance", "keeper",
    "rotate", "settler drain", "settler crash", "kill gateway", "sweep", "redis lost",
    "start ", "finish ",  # a Realtime response, background response or batch (metered.py)
    "commit ", "close commitment",  # commitments' steps (the side generator's)
)  # fmt: skip


@pytest.fixture(scope="module")
async def template_db() -> AsyncIterator[str]:
    async with template() as name:
        yield name


@pytest.mark.parametrize("seed", SEEDS)
async def test_every_invariant_holds_after_every_step(template_db: str, seed: int) -> None:
    outcome = await run_seed(template_db, seed, STEPS)
    assert not outcome.broken, outcome.report()
    assert len(outcome.trace) >= STEPS


LEASE_SEEDS = (0, 1, 2, 5)
LEASE_STEPS = 60


@pytest.mark.parametrize("seed", LEASE_SEEDS)
async def test_every_invariant_holds_with_processes_holding_leases(
    template_db: str, seed: int
) -> None:
    """Two processes lease busy keys' calls: they crash holding leases (the sweeper closes
    them), their leases end with the clock or outlive a lost Redis, and every promise holds."""
    outcome = await run_seed(template_db, seed, LEASE_STEPS, leases=True)
    assert not outcome.broken, outcome.report()
    assert any(line.endswith("leased") for line in outcome.trace), "no call was leased"
    assert any(line.startswith("lease keep") for line in outcome.trace)


async def test_one_seed_is_one_schedule_with_every_fault(template_db: str) -> None:
    """A seed's steps and their outcomes are its own (the replay command shows the same
    run), and the fixed seeds do try every step, faults included."""
    first = await run_seed(template_db, EVERY_SEED, EVERY_STEPS)
    assert not first.broken, first.report()
    assert [k for k in KINDS if not any(line.startswith(k) for line in first.trace)] == []
    again = await run_seed(template_db, EVERY_SEED, EVERY_STEPS)
    assert first.trace == again.trace
    assert first.trace[:10] != (await run_seed(template_db, 8, 10)).trace


async def test_a_broken_invariant_stops_the_seed_with_its_trace(template_db: str) -> None:
    """The simulation can fail: a balance pushed below its floor by hand (as a debit past
    the balance once left it) is named, with the steps before it and the replay command."""
    async with seed_stores(template_db) as stores:
        world = World(stores, random.Random(3))
        await populate(world)
        await steps.reserve(world)
        account = world.accounts[0]
        name = stores.store.keys.account(world.keys[account][0].shard, account)
        await stores.redis.hset(name, "bal", -1)
        broken = await money_violations(stores, world.accounts, world.windows)
    outcome = Outcome(3, 1, tuple(world.trace), tuple(broken))
    assert f"{account}: balance -1 below its floor 0" in outcome.broken
    report = outcome.report()
    assert world.trace[0] in report
    assert report.endswith("python -m tests.simulation --seed 3 --steps 1")


async def test_the_drained_checks_fail_on_a_wrong_ledger(template_db: str) -> None:
    """An over-report's shortfall missing from the receivables, and a Redis balance off
    its ledger, are each named."""
    async with seed_stores(template_db) as stores:
        world = World(stores, random.Random(11))
        await populate(world)
        account = world.accounts[0]
        await post_credit(stores.ledger, stores.store, account, 1_000, "top", "t")
        key = world.keys[account][0]
        decision = await stores.store.reserve(
            "r-over", key, input_tokens=1, max_output_tokens=1, spend_micros=100
        )
        assert isinstance(decision, Admitted), decision
        world.costs["r-over"] = 10**9  # far past the balance: mostly uncollected
        await steps._debit(world, Flight("r-over", key, 100, ""), 10**9)
        await steps.drain(world)
        assert await checks.billed_as_priced(world) == []
        assert await checks.ledger_equals_balance(world) == []
        await stores.pool.execute("DELETE FROM uncollected_debits WHERE request_id = 'r-over'")
        name = stores.store.keys.account(key.shard, account)
        await stores.redis.hincrby(name, "bal", 5)
        assert (await checks.billed_as_priced(world))[0].startswith(
            "r-over: cost 1000000000, billed"
        )
        assert (await checks.ledger_equals_balance(world))[0].startswith(f"{account}: drained")


async def test_a_void_replayed_after_a_settler_crash_stays_before_its_late_debit(
    template_db: str,
) -> None:
    """Found by seed 1031 (`python -m tests.simulation --seed 1031 --steps 80`): a settler
    died with a void unacknowledged; the next one wrote the request's late debit first and
    the void after it (claimed messages land after new ones), so by ledger id the request
    read "debited, then voided". Money was right; the history was not. Entries are in the
    order they happened (`occurred_at`), and the invariants check that order."""
    async with seed_stores(template_db) as stores:
        world = World(stores, random.Random(1))
        await populate(world)
        account = world.accounts[0]
        await post_credit(stores.ledger, stores.store, account, 10_000, "top", "t")
        key = world.keys[account][0]
        decision = await stores.store.reserve(
            "r-late", key, input_tokens=1, max_output_tokens=1, spend_micros=100
        )
        assert isinstance(decision, Admitted), decision
        await steps.drain(world)
        await steps.sweep(world)  # the void is queued
        await stores.settlement_stream("dying").ensure_groups()
        with pytest.raises(steps.SettlerCrash):
            await steps._settler(world, "dying", steps._DiesBefore()).run_once()
        await steps._debit(world, Flight("r-late", key, 100, ""), 80)  # late debit
        await steps.drain(world)
        ids = await stores.pool.fetch(
            "SELECT kind FROM ledger_entries WHERE request_id = 'r-late' ORDER BY id"
        )
        assert [r["kind"] for r in ids] == ["debit", "void"]  # the replay's order
        entries = await stores.directory().request_entries(account, "r-late")
        assert [e["kind"] for e in entries] == ["void", "debit"]
        await check_invariants(stores, world.accounts)


async def test_an_uncollected_part_written_before_its_replayed_debit_is_no_orphan(
    template_db: str,
) -> None:
    """Found by seed 1117 (`python -m tests.simulation --seed 1117 --steps 60`): a debit and
    its uncollected part are two messages; a settler died with the debit unacknowledged and
    another wrote the part. Until the debit is replayed that is no broken promise; once
    nothing is queued, an uncollected part without its debit is one, and is named."""
    async with seed_stores(template_db) as stores:
        world = World(stores, random.Random(1))
        await populate(world)
        account = world.accounts[0]
        key = world.keys[account][0]
        await post_credit(stores.ledger, stores.store, account, 10_000, "top", "t")
        decision = await stores.store.reserve(
            "r-over", key, input_tokens=1, max_output_tokens=1, spend_micros=100
        )
        assert isinstance(decision, Admitted), decision
        await steps.drain(world)
        await steps._debit(world, Flight("r-over", key, 100, ""), 10**6)
        for name, ledger in (("dies-before", steps._DiesBefore()), ("dies-after", None)):
            stream = stores.settlement_stream(name)
            await stream.ensure_groups()
            wrapped = ledger or steps._DiesAfterCommit(stores.ledger)
            with pytest.raises(steps.SettlerCrash):  # one message each: the debit, the part
                await Settler(stream, wrapped, batch=8).run_once()
        assert (
            await stores.pool.fetchval(
                "SELECT count(*) FROM uncollected_debits WHERE request_id = 'r-over'"
            )
            == 1
        )
        assert await money_violations(stores, world.accounts, world.windows) == []
        await steps.drain(world)
        assert await money_violations(stores, world.accounts, world.windows) == []
        await check_invariants(stores, world.accounts)
        await stores.pool.execute(
            "INSERT INTO uncollected_debits (request_id, account_id, key_id, model, provider,"
            " amount_micros, why, occurred_at) VALUES ('r-ghost', $1, '', 'm', 'openai', 5,"
            " 'balance', now())",
            account,
        )
        assert await money_violations(stores, world.accounts, world.windows) == [
            "r-ghost: uncollected without its debit"
        ]
