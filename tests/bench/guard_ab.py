"""`python -m tests.bench.guard_ab [--direct] [--rounds R] [--messages N] [--arms none,fk,taken]`

What refusing a debit without its guard row (`ledger_request_ids`) costs the settler's write
path. Two ways, both with the real code:

- `--direct` (the precise one): each arm gets a database of its own (`..._<arm>`) and one
  connection, and the same rows are written through `Ledger.write_settlements` in the
  settler's batches (SETTLER_BATCH, 2000), one batch to each arm in turn (the order rotating),
  so both arms see the same moment of a busy machine; the figure is that PostgreSQL backend's
  CPU time from /proc per row written, the database's own cost, where the check runs.
- without it: each round drains N pre-filled settlement messages once per arm
  (`settler_bench.settler_throughput`, the real Settler from Redis into the ledger, one bench
  database whose check is switched between arms): debits/s end to end, noisy on a shared box.

Arms:

- `none`: no check (migration 026's trigger dropped);
- `fk`: a foreign key `ledger_entries (request_id, kind) -> ledger_request_ids`, checked per
  row (not shipped: it costs the settler ~18% of the backend's CPU per row);
- `statement`: an AFTER INSERT statement trigger anti-joining the statement's new rows (a
  transition table) with the guard, once per statement (not shipped either);
- `taken`: migration 026's row trigger, whose WHEN the settler's transactions make false
  (`meterway.guards_taken`), so the settler's rows never queue it.

Prints the figure per round and the median per arm. MWBENCH_TAG gives it its own database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import uvloop

from gateway.stores.postgres.ledger import Ledger
from gateway.stores.stream_fields import ledger_row
from tests.bench import fixtures
from tests.bench.__main__ import _cleanup, _prepare
from tests.bench.settler_bench import named_message, settler_throughput

BATCH = 2000

_OFF = """
ALTER TABLE ledger_entries DROP CONSTRAINT IF EXISTS ledger_entries_request_guard;
DROP TRIGGER IF EXISTS ledger_guarded ON ledger_entries;
DROP TRIGGER IF EXISTS ledger_guard_taken ON ledger_entries;
"""
_STATEMENT_CHECK = """
CREATE OR REPLACE FUNCTION ledger_guarded_bench() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_new n WHERE n.request_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM ledger_request_ids g WHERE g.request_id = n.request_id
        AND g.kind = n.kind)) THEN
        RAISE EXCEPTION 'a ledger row without its guard row';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_guarded AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS ledger_new FOR EACH STATEMENT
    EXECUTE FUNCTION ledger_guarded_bench();
"""
ARMS = {
    "none": "",
    "fk": "ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_request_guard"
    " FOREIGN KEY (request_id, kind) REFERENCES ledger_request_ids (request_id, kind)",
    "statement": _STATEMENT_CHECK,
    # Migration 026's trigger, which the settler's merge skips (meterway.guards_taken).
    "taken": "CREATE TRIGGER ledger_guard_taken AFTER INSERT ON ledger_entries FOR EACH ROW"
    " WHEN (NEW.request_id IS NOT NULL"
    " AND current_setting('meterway.guards_taken', true) IS DISTINCT FROM 'on')"
    " EXECUTE FUNCTION ledger_guard_taken()",
}


async def _arm(ddl: str) -> None:
    conn = await asyncpg.connect(fixtures.DSN)
    try:
        await conn.execute(_OFF + ddl)
        await conn.execute("VACUUM ANALYZE ledger_entries, ledger_request_ids")
    finally:
        await conn.close()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _database(arm: str, accounts: int) -> asyncpg.Pool:
    """The arm's own database (migrated, `accounts` accounts, its check) and one connection."""
    name = f"{fixtures.DATABASE}_{arm}"
    await fixtures.fresh_database(name)
    pool = await asyncpg.create_pool(fixtures.dsn_of(name), min_size=1, max_size=1)
    await pool.execute(
        "INSERT INTO accounts (id, name, plan, mode) SELECT 'acct_' || i, 'ab', 'pro',"
        " 'prepaid' FROM generate_series(0, $1 - 1) i",
        accounts,
    )
    await pool.execute(_OFF + ARMS[arm])
    return pool


async def _direct(arms: list[str], rounds: int, n: int, accounts: int) -> dict[str, list[float]]:
    """Per arm and round, backend CPU microseconds per row, batches interleaved across arms."""
    pools = {arm: await _database(arm, accounts) for arm in arms}
    try:
        pids = {arm: await pool.fetchval("SELECT pg_backend_pid()") for arm, pool in pools.items()}
        out: dict[str, list[float]] = {arm: [] for arm in arms}
        now_ms = int(time.time() * 1000)
        for r in range(rounds):
            spent = dict.fromkeys(arms, 0.0)
            for start in range(0, n, BATCH):
                rows = [
                    ledger_row(
                        named_message(f"ab-{uuid.uuid4().hex}", f"acct_{i % accounts}", "k", now_ms)
                    )
                    for i in range(start, min(start + BATCH, n))
                ]
                turn = start // BATCH + r
                for arm in arms[turn % len(arms) :] + arms[: turn % len(arms)]:
                    before = _cpu_s(pids[arm])
                    assert await Ledger(pools[arm]).write_settlements(rows) == len(rows)
                    spent[arm] += _cpu_s(pids[arm]) - before
            for arm in arms:
                out[arm].append(spent[arm] * 1e6 / n)
                print(f"round {r + 1} {arm}: {out[arm][-1]:.2f} backend CPU us/row", flush=True)
        return out
    finally:
        for pool in pools.values():
            await pool.close()
        admin = await asyncpg.connect(fixtures.PG_ADMIN)
        for arm in arms:
            await admin.execute(f'DROP DATABASE IF EXISTS "{fixtures.DATABASE}_{arm}" WITH (FORCE)')
        await admin.close()


def _drained(args: argparse.Namespace, arms: list[str]) -> dict[str, list[float]]:
    """Per arm and round, debits/s of the real Settler draining pre-filled streams."""
    rates: dict[str, list[float]] = {a: [] for a in arms}
    with tempfile.TemporaryDirectory() as tmp, _cleanup(keep_db=False):
        settings, pop = _prepare(Path(tmp), args)
        for r in range(args.rounds):
            for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:
                uvloop.run(_arm(ARMS[arm]))
                n, secs = uvloop.run(settler_throughput(settings, pop, args.messages))
                rates[arm].append(n / secs)
                print(f"round {r + 1} {arm}: {n / secs:,.0f} debits/s", flush=True)
    return rates


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.guard_ab", description=__doc__)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--arms", default="none,fk,taken")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--direct", action="store_true", help="backend CPU per row, no Redis")
    args = p.parse_args()
    arms = args.arms.split(",")
    unit = "backend CPU us/row" if args.direct else "debits/s"
    if args.direct:
        rates = uvloop.run(_direct(arms, args.rounds, args.messages, args.accounts))
    else:
        rates = _drained(args, arms)
    base = statistics.median(rates[arms[0]])
    print(f"\n| arm | {unit} median | vs {arms[0]} | rounds |\n|---|---:|---:|---|")
    for arm, got in rates.items():
        med = statistics.median(got)
        each = ", ".join(f"{x:,.1f}" for x in got)
        print(f"| {arm} | {med:,.0f} | {med / base - 1:+.1%} | {each} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
