"""One seed: a world on a database of its own (a copy of a migrated template) and a private
Redis prefix, `steps` scheduled steps with the invariants checked after each, then a drain
and the full ledger check."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gateway.stores.connect import Stores
from gateway.workers.grant_keeper import GrantKeeper
from tests.simulation import checks, metered, steps
from tests.simulation.world import World, populate
from tests.support.harness import opened_stores, temp_database
from tests.support.invariants import check_invariants, money_violations

SIDE_SEED = 1_000_003  # the side generator's seed is the seed's plus this


@dataclass(frozen=True)
class Outcome:
    seed: int
    steps: int
    trace: tuple[str, ...]
    broken: tuple[str, ...]  # empty: every invariant held

    def replay(self) -> str:
        return f".venv/bin/python -m tests.simulation --seed {self.seed} --steps {self.steps}"

    def report(self) -> str:
        lines = [f"seed {self.seed} broke the money invariants:", *self.broken, "trace:"]
        lines += [f"  {n:4d} {line}" for n, line in enumerate(self.trace)]
        return "\n".join([*lines, f"replay: {self.replay()}"])


@asynccontextmanager
async def template() -> AsyncIterator[str]:
    """A migrated database each seed's database is copied from (CREATE DATABASE TEMPLATE
    takes ~0.1 s; migrating takes seconds)."""
    async with temp_database() as dsn:
        yield dsn.rsplit("/", 1)[1]


@asynccontextmanager
async def seed_stores(template_name: str) -> AsyncIterator[Stores]:
    async with temp_database(template_name) as dsn, opened_stores(dsn, "mwsim") as opened:
        yield opened


async def run_seed(template_name: str, seed: int, count: int, leases: bool = False) -> Outcome:
    """`leases`: two gateway processes, each admitting busy keys' calls under leases."""
    async with seed_stores(template_name) as stores:
        world = World(stores, random.Random(seed), random.Random(seed + SIDE_SEED))
        world.leasing(leases)
        broken = await _run(world, count)
    return Outcome(seed, count, tuple(world.trace), tuple(broken))


async def _run(world: World, count: int) -> list[str]:
    await populate(world)
    table = [*steps.STEPS, *(steps.LEASE_STEPS if world.procs else ())]
    actions = [s for s, _ in table]
    weights = [w for _, w in table]
    for _ in range(count):
        step = world.rng.choices(actions, weights)[0]
        await step(world)
        if world.side.random() < steps.SIDE_CHANCE:
            await world.side.choice(steps.SIDE_STEPS)(world)
        broken = world.broken + await money_violations(world.stores, world.accounts, world.windows)
        broken += await checks.commitments_held(world)
        if step is steps.drain:
            broken += await checks.ledger_equals_balance(world)
        if broken:
            return broken
    return await _drained(world)


async def _drained(world: World) -> list[str]:
    """Every request ends (the live ones settle honestly, the abandoned ones are swept),
    the settler catches up and the keeper allocates: the ledger must equal the balances."""
    while world.flights:
        await steps.settle(world)
    await metered.finish_all(world)
    if world.procs:  # a stop: every lease given back once its calls are settled
        for proc in world.procs:
            await proc.leases.close_all()
        await steps.lease_keep(world)  # what was appended under leases Redis lost
    await steps.sweep(world)
    await steps.drain(world)
    await GrantKeeper(world.stores.grants(), world.stores.grant_write_offs()).tick()
    await steps.drain(world)
    broken = await money_violations(world.stores, world.accounts, world.windows)
    broken += await checks.ledger_equals_balance(world)
    broken += await checks.billed_as_priced(world)
    try:
        await check_invariants(world.stores, world.accounts)
    except AssertionError as exc:
        broken.append(f"drained: {exc}")
    return broken
