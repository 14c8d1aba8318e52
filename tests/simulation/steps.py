"""Everything that can happen to the money core between two checks, one function each.

Each step draws what it needs from the world's one random generator and appends one line
to the trace saying what it did; outcomes the gateway answers (a refusal, a closed
reservation) are part of the line, so two runs of one seed can be compared line by line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from billing.contracts.commitments import POLICIES, Terms
from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.ops.rebuild import rebuild
from gateway.services.contracts.commitments import CommitmentPorts, close_due, set_commitment
from gateway.services.keys.life_cycle import rotate_key
from gateway.services.money.credits import post_adjustment, post_credit
from gateway.stores.errors import BalanceTooLow
from gateway.stores.ports.money.settlement import SettlementLedger
from gateway.stores.records import GrantSpec, KeyRecord, Settlement
from gateway.stores.redis.keys import SHARDS
from gateway.workers.grant_keeper import GrantKeeper
from gateway.workers.settler import Settler
from gateway.workers.sweeper import sweep_once
from tests.integration.test_rebuild_metering import PLANS
from tests.simulation import metered
from tests.simulation.checks import unwritten
from tests.simulation.world import END_USERS, Flight, World, join_team
from tests.support.harness import REDIS_URL, drop_prefix
from tests.support.invariants import Window

RESERVATION_TTL_MS = 90_000  # UPSTREAM_TIMEOUT_S (30, the tests' gateway_env) + 60 s
Step = Callable[[World], Awaitable[None]]


class SettlerCrash(Exception):
    """The settler process died after its transaction committed, before the ack."""


async def reserve(w: World) -> None:
    account, key = w.pick_key()
    rid = w.next_id(f"{account}:r")
    held = w.rng.choice((w.rng.randrange(50, 2_000), w.rng.randrange(2_000, 20_000)))
    end_user = w.rng.choice(("", *END_USERS))
    if w.procs and w.rng.random() < 0.5:  # with leases, more calls a lease may admit
        end_user = ""
    proc = w.rng.randrange(len(w.procs)) if w.procs else 0
    decision = await w.process(proc).reserve(
        rid, key, input_tokens=10, max_output_tokens=10, spend_micros=held, end_user=end_user
    )
    if isinstance(decision, Admitted):
        w.flights[rid] = Flight(rid, key, held, end_user, proc)
    outcome = type(decision).__name__
    leased = " leased" if w.process(proc).leases.owns(rid) else ""
    w.trace.append(
        f"reserve {rid} key={w.names[key.key_id]} eu={end_user} held={held} p{proc}"
        f" -> {outcome}{leased}"
    )


def _cost(w: World, f: Flight) -> tuple[str, int]:
    """What the provider reports, priced: honest (at most the hold), over or under."""
    how = w.rng.choice(("honest", "honest", "over", "over", "under"))
    if how == "honest":
        return how, w.rng.randrange(f.held // 2, f.held + 1)
    if how == "over":  # other tokenizers, hidden prompts: up to 3x the hold and more
        return how, f.held + w.rng.randrange(1, 3 * f.held + 8_192)
    return how, w.rng.randrange(0, max(1, f.held // 4))


async def settle(w: World) -> None:
    f = w.pick_flight()
    if f is None:
        return await reserve(w)
    del w.flights[f.rid]
    if w.rng.random() < 0.15:  # the provider failed: nothing is billed
        closed = await w.process(f.proc).release(f.key.shard, f.key.account_id, f.rid)
        w.trace.append(f"release {f.rid} -> {closed}")
        return
    how, cost = _cost(w, f)
    done = await _debit(w, f, cost)
    w.settled.append(f)
    w.costs[f.rid] = cost
    w.trace.append(f"settle {f.rid} {how} cost={cost} held={f.held} -> {done}")


async def _debit(w: World, f: Flight, cost: int) -> int:
    usage = Usage(input_tokens=10, output_tokens=10)
    settlement = Settlement("sim-model", "openai", usage, cost, end_user=f.end_user)
    return await w.process(f.proc).settle(f.key.shard, f.key.account_id, f.rid, settlement)


async def settle_again(w: World) -> None:
    """A duplicate delivery (a retried settle after a lost reply): must debit nothing."""
    if not w.settled:
        return await settle(w)
    f = w.rng.choice(w.settled)
    cost = w.rng.randrange(0, 3 * f.held)
    w.trace.append(f"settle-again {f.rid} cost={cost} -> {await _debit(w, f, cost)}")


async def credit(w: World) -> None:
    account = w.rng.choice(w.accounts)
    amount = w.rng.randrange(1_000, 30_000) * w.room
    spec = None
    if w.rng.random() < 0.5:  # a promotional grant that ends soon
        now = datetime.fromtimestamp(await w.stores.store.now_ms() / 1000, UTC)
        ends = now + timedelta(seconds=w.rng.randrange(1, 180))
        spec = GrantSpec(kind="promotional", expires_at=ends)
    idem = w.next_id("credit")
    await post_credit(w.stores.ledger, w.stores.store, account, amount, idem, "sim", grant=spec)
    w.trace.append(f"credit {account} {amount} grant={'ends' if spec else 'paid'}")


async def adjust(w: World) -> None:
    """An operator's correction either way (refunds take money out the same way)."""
    account = w.rng.choice(w.accounts)
    amount = w.rng.choice((1, -1)) * w.rng.randrange(1, 10_000)
    try:
        await post_adjustment(
            w.stores.ledger, w.stores.store, account, amount, w.next_id("adj"), "sim"
        )
        w.trace.append(f"adjust {account} {amount}")
    except BalanceTooLow:
        w.trace.append(f"adjust {account} {amount} -> refused")


async def advance(w: World) -> None:
    ms = w.rng.choice((w.rng.randrange(1, 5_000), w.rng.randrange(5_000, 120_000)))
    await _advance(w, ms)
    w.trace.append(f"advance {ms} ms")


async def _advance(w: World, ms: int) -> None:
    for proc in w.procs:  # the time its leases could admit has passed
        proc.leases.retire_all()
    w.advanced_ms += ms
    keys = w.stores.store.keys
    async with w.stores.redis.pipeline(transaction=False) as pipe:
        for shard in range(SHARDS):
            pipe.incrby(keys.clock(shard), ms)
        await pipe.execute()


async def keeper(w: World) -> None:
    """The grant keeper writes off what ended and allocates the ledger to grants."""
    await GrantKeeper(w.stores.grants(), w.stores.grant_write_offs()).tick()
    w.trace.append("keeper tick")


async def rotate(w: World) -> None:
    account = w.rng.choice(w.accounts)
    old = w.rng.choice(w.keys[account])
    row = await w.stores.ledger.get_key(old.key_id)
    assert row is not None
    grace = w.rng.randrange(0, 60)
    org = (w.stores.teams(), w.stores.end_user_budgets())
    issued = await rotate_key(
        w.stores.ledger, w.stores.store, w.stores.directory(), row, grace, org
    )
    quota = w.key_quota[old.key_id]  # the new secret has the old one's grant and quotas
    w.key_quota[issued.key_id] = quota
    w.windows.append(Window(account, "k", issued.key_id, quota))
    new = KeyRecord(issued.key_id, account, old.shard, "k", (), ())
    await join_team(w, new, w.teams.get(old.key_id))  # as the rotate route does
    w.keys[account].append(new)
    w.names[issued.key_id] = f"{account[-1]}k{len(w.names)}"
    w.trace.append(f"rotate {w.names[old.key_id]} -> {w.names[issued.key_id]} grace={grace}s")


def _settler(w: World, name: str, ledger: SettlementLedger | None = None) -> Settler:
    """A settler process; claim_idle_ms=0: it replays what a dead one left pending at once."""
    stream = w.stores.settlement_stream(name)
    return Settler(stream, ledger or w.stores.ledger, batch=16, claim_idle_ms=0)


async def drain(w: World) -> None:
    """A settler catches up, replaying first what a crashed one left pending."""
    await _settler(w, "sim-settler").drain()
    w.trace.append("settler drain")


class _DiesAfterCommit:
    """The ledger of a settler that dies right after its transaction commits."""

    def __init__(self, ledger: SettlementLedger) -> None:
        self.ledger = ledger

    async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
        await self.ledger.write_settlements(rows)
        raise SettlerCrash


async def settler_crash(w: World) -> None:
    """A settler writes one batch (or half does: before or after the commit) and dies
    without acknowledging it; its messages stay pending for the next settler."""
    name = w.next_id("sim-dying-")
    after = w.rng.random() < 0.7
    ledger = _DiesAfterCommit(w.stores.ledger) if after else _DiesBefore()
    try:
        await w.stores.settlement_stream(name).ensure_groups()
        n = await _settler(w, name, ledger).run_once()
    except (SettlerCrash, TimeoutError):
        n = -1
    w.trace.append(f"settler crash {'after' if after else 'before'} commit -> {n}")


class _DiesBefore:
    async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
        raise SettlerCrash


async def kill_gateway(w: World) -> None:
    """The gateway dies: its requests are never settled; their holds wait for the sweeper."""
    died = metered.gateway_died(w)
    w.abandoned += sorted(w.flights) + died
    w.trace.append(f"kill gateway: {len(w.flights) + len(died)} holds abandoned")
    w.flights.clear()
    for proc in w.procs:  # their leases are left to the sweeper
        w.restart(proc)


async def sweep(w: World) -> None:
    """The reservations' deadline passes and the sweeper voids what is left open."""
    await _advance(w, RESERVATION_TTL_MS + 1)
    voided = await sweep_once(w.stores.store)
    w.trace.append(f"sweep after {RESERVATION_TTL_MS + 1} ms -> {voided} voided")


async def lease_keep(w: World) -> None:
    """Each process applies what its leased calls appended (those batches that are due, or
    all) and closes leases that stopped admitting; debits appended under a lease Redis lost
    are debited late (as services/money/settlement.py's `resettle` does: a tombstone, then the
    settle)."""
    for proc in w.procs:  # a round as the keeper runs it, or one that applies everything
        await proc.leases.keep(extend=True, due_only=w.rng.random() < 0.5)
    late = list(w.lost_appends)
    w.lost_appends.clear()
    settlements = metered.meter(w).settlements  # the gateway's, as app.py wires on_lost
    for rid, account, shard, key_id, settlement in late:
        settlements.resettle(rid, account, shard, key_id, settlement)
    await settlements.registry.drain(5)
    w.trace.append(f"lease keep -> {len(late)} lost appends settled again")


async def redis_lost(w: World) -> None:
    """Redis restarts without its data (the stream's unsettled messages with it) and is
    rebuilt from the ledger, as the gateway's self-restore does. In-flight requests of a
    gateway that lived on try to settle afterwards."""
    lost = await unwritten(w)
    w.vanished |= lost | set(w.flights) | set(w.live)  # queued messages, holds now gone
    await drop_prefix(REDIS_URL, w.stores.store.keys.prefix)
    offset, w.advanced_ms = w.advanced_ms, 0
    await _advance(w, offset)  # the test clock's offset lives in Redis too
    result = await rebuild(w.stores, PLANS)
    w.trace.append(f"redis lost ({len(lost)} requests not fully written), rebuilt {result}")


def _commitment_ports(w: World) -> CommitmentPorts:
    return CommitmentPorts(w.stores.ledger, w.stores.commitments(), w.stores.store)


async def commit(w: World) -> None:
    """An operator commits an account to a spend per month (new terms on one already)."""
    rng = w.side
    account = rng.choice(w.accounts)
    terms = Terms(
        "month",
        rng.randrange(2_000, 60_000),
        "prepaid",
        discount_bps=rng.randrange(0, 3_000),
        on_exhausted=rng.choice(POLICIES),
        overage_bps=rng.randrange(0, 5_000),
        rollover_bps=rng.randrange(0, 10_001),
        rollover_cap_micros=rng.randrange(0, 20_000),
        rollover_periods=rng.randrange(1, 3),
    )
    now_ms = await w.stores.store.now_ms()
    await set_commitment(_commitment_ports(w), account, terms, now_ms)
    w.trace.append(f"commit {account} {terms.amount_micros} {terms.on_exhausted}")


async def close_periods(w: World) -> None:
    """Every open commitment period closes (as if its month ended), twice: the second run
    of a keeper closes the periods the first opened, never the first ones again."""
    far = datetime(2200, 1, 1, tzinfo=UTC)
    closed = await close_due(_commitment_ports(w), far)
    w.trace.append(f"close commitment periods -> {closed}")


STEPS: Sequence[tuple[Step, int]] = (
    (reserve, 30),
    (settle, 30),
    (settle_again, 4),
    (credit, 8),
    (adjust, 4),
    (advance, 6),
    (keeper, 4),
    (rotate, 2),
    (drain, 6),
    (settler_crash, 3),
    (kill_gateway, 1),
    (sweep, 2),
    (redis_lost, 1),
    (metered.start, 8),
    (metered.finish, 8),
)
# With leases (two processes), one step more, so the seeds without them keep their schedule.
LEASE_STEPS: Sequence[tuple[Step, int]] = ((lease_keep, 8),)
# Commitments' steps, drawn from the world's second generator (`side`) between the others,
# so adding them left every seed's schedule of the steps above as it was.
SIDE_STEPS: Sequence[Step] = (commit, commit, close_periods)
SIDE_CHANCE = 0.12
