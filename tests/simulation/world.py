"""What one seed simulates: accounts (prepaid, one with a credit line), their keys in a
team, end users with budgets, each with an hourly spend window, and the requests in flight.

Everything is made through the same ports the gateway and the admin API use, PostgreSQL
first, so a rebuild from the ledger finds it again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from billing.money.quotas import Quota
from gateway.ops.rebuild import sync_plans
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.services.money.credits import post_credit
from gateway.services.money.meter.metering import Meter
from gateway.stores.connect import Stores
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import Keys, shard_of
from gateway.stores.redis.leases.process import Leases
from tests.integration.test_rebuild_metering import PLANS
from tests.support.invariants import Window

ACCOUNTS = 3
KEYS_PER_ACCOUNT = 2
END_USERS = ("alice", "bob")
PLAN = "pro"
LEASE_UNITS = 8  # with leases, every key is busy: each lease asks for this many calls


@dataclass
class Flight:
    """A request the gateway has reserved for and not yet closed."""

    rid: str
    key: KeyRecord
    held: int
    end_user: str
    proc: int = 0  # the gateway process that admitted it (World.procs)


@dataclass
class World:
    stores: Stores
    rng: random.Random
    side: random.Random = field(default_factory=random.Random)  # commitments' steps (steps.py)
    accounts: list[str] = field(default_factory=list)
    keys: dict[str, list[KeyRecord]] = field(default_factory=dict)  # live keys per account
    windows: list[Window] = field(default_factory=list)
    key_quota: dict[str, Quota] = field(default_factory=dict)
    teams: dict[str, tuple[str, Quota]] = field(default_factory=dict)  # key id -> its team
    names: dict[str, str] = field(default_factory=dict)  # key id -> its name in the trace
    flights: dict[str, Flight] = field(default_factory=dict)
    settled: list[Flight] = field(default_factory=list)  # for duplicate deliveries
    abandoned: list[str] = field(default_factory=list)  # a killed gateway's holds
    trace: list[str] = field(default_factory=list)
    costs: dict[str, int] = field(default_factory=dict)  # what each settled request cost
    vanished: set[str] = field(default_factory=set)  # settled, then lost with Redis's data
    advanced_ms: int = 0  # the test clock's offset, restored after Redis loses it
    serial: int = 0
    meter: Meter | None = None  # the gateway process's, for the metered paths (metered.py)
    live: dict[str, Any] = field(default_factory=dict)  # metered calls started, unfinished
    broken: list[str] = field(default_factory=list)  # what a step saw broken at once
    # Gateway processes on the one Redis: the stores' own, and with leases a second one;
    # each admits a busy key's calls under leases of its own (stores/redis/leases/process.py).
    procs: list[HotStore] = field(default_factory=list)
    # How many times the money and the windows a world starts with (and its credits): with
    # leases, 20, so a quarter of most headrooms holds a lease of several calls.
    room: int = 1
    # Debits appended under a lease Redis lost, for the next lease step to debit late.
    lost_appends: list[tuple[str, str, int, str, Settlement]] = field(default_factory=list)

    def process(self, n: int) -> HotStore:
        return self.procs[n] if self.procs else self.stores.store

    def leasing(self, leases: bool) -> None:
        """Two processes, each leasing a busy key's calls."""
        if not leases:
            return
        store = self.stores.store
        other = HotStore(store.redis, store.keys, reservation_ttl_s=90, test_clock=True)
        self.procs = [store, other]
        self.room = 20
        for proc in self.procs:
            self.restart(proc)

    def restart(self, proc: HotStore) -> None:
        """The process starts afresh: no lease of its own (Redis keeps those of before)."""
        proc.leases = Leases(proc, enabled=True, wanted=lambda _: LEASE_UNITS)
        proc.leases.on_lost = lambda *lost: self.lost_appends.append(lost)

    def next_id(self, what: str) -> str:
        self.serial += 1
        return f"{what}{self.serial}"

    def pick_key(self) -> tuple[str, KeyRecord]:
        account = self.rng.choice(self.accounts)
        return account, self.rng.choice(self.keys[account])

    def pick_flight(self) -> Flight | None:
        if not self.flights:
            return None
        return self.flights[self.rng.choice(sorted(self.flights))]


def spend_window(limit: int) -> Quota:
    return Quota("hour", "spend_micros", limit)


async def populate(world: World) -> None:
    """ACCOUNTS accounts, the last with a credit line; KEYS_PER_ACCOUNT keys in one team."""
    rng, stores = world.rng, world.stores
    for n in range(ACCOUNTS):
        account = f"acct_sim{n}"
        await stores.ledger.create_account(account, account, PLAN, "prepaid")
        await stores.pool.execute("UPDATE accounts SET billing_ready = true WHERE id = $1", account)
        if n == ACCOUNTS - 1:
            await stores.ledger.set_credit_line(account, rng.randrange(1_000, 20_000))
        await sync_plans(stores, PLANS)  # the account's hot record, as rebuild writes it
        world.accounts.append(account)
        seed = rng.randrange(0, 50_000) * world.room
        await post_credit(stores.ledger, stores.store, account, seed, account, "sim")
        plan = PLANS.get(PLAN)
        world.windows += [Window(account, "a", account, q) for q in (plan.quotas if plan else ())]
        team_quota = spend_window(rng.randrange(5_000, 60_000) * world.room)
        team = str((await stores.teams().create(account, "t", (team_quota,)))["id"])
        world.windows.append(Window(account, "t", team, team_quota))
        for user in END_USERS:  # an end user's budget is the account's, whatever the key
            budget = (spend_window(rng.randrange(1_000, 20_000)),)
            await stores.end_user_budgets().put(account, "", user, budget)
            await stores.store.put_end_user_budget(account, "", user, budget)
            owner = Keys.end_user_owner(account, user)
            world.windows += [Window(account, "u", owner, q) for q in budget]
        world.keys[account] = [
            await add_key(world, account, (team, team_quota)) for _ in range(KEYS_PER_ACCOUNT)
        ]


async def add_key(world: World, account: str, team: tuple[str, Quota] | None) -> KeyRecord:
    """A key with its own hourly spend window, in `team` (id, its window) if any."""
    stores, rng = world.stores, world.rng
    quota = spend_window(rng.randrange(3_000, 40_000) * world.room)
    issued = await issue_key(stores.ledger, stores.store, account, KeySpec("k", quotas=(quota,)))
    record = KeyRecord(issued.key_id, account, shard_of(account), "k", (), ())
    world.windows.append(Window(account, "k", issued.key_id, quota))
    world.key_quota[issued.key_id] = quota
    world.names[issued.key_id] = f"{account[-1]}k{len(world.names)}"
    await join_team(world, record, team)
    return record


async def join_team(world: World, key: KeyRecord, team: tuple[str, Quota] | None) -> None:
    """The key counts in the team's window too (a rotated key's successor stays in it)."""
    if team is None:
        return
    world.teams[key.key_id] = team
    await world.stores.teams().set_key_team(key.key_id, team[0])
    await world.stores.store.set_key_team(key.shard, key.key_id, team[0], (team[1],))
