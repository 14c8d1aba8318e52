"""`python -m tests.bench.script_cost [--calls N]`

Redis's instructions per call of reserve.lua and of settle.lua, each driven alone through
`HotStore`: a redis-server of the bench's own under `valgrind --tool=callgrind` (pinned to
the load CPU), the bench's population (100 accounts on "pro", 1,000 keys with two key quotas
each), N reserves 32 at a time, then their N settlements, after one such warm-up round.
The counters are zeroed before each phase and dumped after it. The commands the scripts
call (everything under Redis's `call()` from inside Lua) are given apart from the rest:
entering the script, the Lua interpreter, its strings, tables and collector, converting
arguments and replies.

Why: on a VM like the tenth pass's a script's time is wall time every request waits for,
and that time moves by +-20% between runs; this count moves by 2-3%, enough to judge a
variant of a script: copy the tree (`git archive HEAD gateway billing tests config`), edit
its .lua, and run this module from the copy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from billing.usage import Usage
from gateway.services.auth import hash_key
from gateway.stores.connect import open_stores
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.hotstore import HotStore
from tests.bench import fixtures
from tests.bench.__main__ import _settings
from tests.bench.procs import (
    OWN_REDIS_PID,
    OWN_REDIS_URL,
    callgrind,
    dump,
    instructions,
    rerun_on_own_redis,
)
from tests.bench.targets import LOAD_CPU

CALLGRIND_DIR = "MWBENCH_CALLGRIND_DIR"
CONCURRENCY = 32
Step = Callable[[KeyRecord, str], Awaitable[None]]


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.script_cost", description=__doc__)
    p.add_argument("--calls", type=int, default=1000, help="reserves (and settles) per phase")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    return p.parse_args()


def _in_commands(dumped: Path) -> int:
    """The instructions of one dump spent under Redis's call() from inside a script."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", str(dumped)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # `call` is recursive here: the EVALSHA's own call() and, below it, each command's
    # (callgrind names the second level call'2).
    nested = [ln.split()[0] for ln in out.splitlines() if ":call'2 " in ln]
    return int(nested[0].replace(",", "")) if nested else 0


async def _drive(a: argparse.Namespace, pid: int, folder: Path, work: Path) -> list[str]:
    settings = _settings(fixtures.bench_config(work / "config"))
    await fixtures.drop_prefix()
    await fixtures.fresh_database()
    pop = await fixtures.populate(settings, a.accounts, a.keys // a.accounts)
    usage = Usage(input_tokens=20, output_tokens=9, source="provider")
    async with open_stores(settings) as stores:
        hot = stores.store
        assert isinstance(hot, HotStore)
        keys = [await hot.lookup_key(hash_key(s)) for s in pop.secrets]
        records = [k for k in keys if k is not None]

        async def reserve(key: KeyRecord, rid: str) -> None:
            await hot.reserve(rid, key, input_tokens=20, max_output_tokens=64, spend_micros=900)

        async def settle(key: KeyRecord, rid: str) -> None:
            cost = Settlement("gpt-4o-mini", "openai", usage, 321)
            await hot.settle(key.shard, key.account_id, rid, cost)

        async def phase(step: Step, calls: list[tuple[KeyRecord, str]]) -> None:
            async def lane(first: int) -> None:
                for key, rid in calls[first::CONCURRENCY]:
                    await step(key, rid)

            await asyncio.gather(*(lane(n) for n in range(CONCURRENCY)))

        def calls() -> list[tuple[KeyRecord, str]]:
            return [(records[n % len(records)], f"req_{uuid.uuid4().hex}") for n in range(a.calls)]

        warm = calls()
        await phase(reserve, warm)
        await phase(settle, warm)
        measured, lines = calls(), []
        for name, step in (("reserve.lua", reserve), ("settle.lua", settle)):
            callgrind(pid, "-z")
            await phase(step, measured)
            dumped = dump(pid, folder)
            total, commands = int(instructions(dumped)), _in_commands(dumped)
            lines.append(
                f"| {name} | {total // a.calls:,} | {commands // a.calls:,} "
                f"| {(total - commands) // a.calls:,} |"
            )
    await fixtures.drop_prefix()
    await fixtures.drop_database()
    return lines


def measure(a: argparse.Namespace, pid: int, folder: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="mwscripts-") as work:
        lines = uvloop.run(_drive(a, pid, folder, Path(work)))
    head = [
        f"Redis instructions per script call (callgrind), {a.calls:,} calls per phase, "
        f"{CONCURRENCY} at a time, {a.keys:,} keys on {a.accounts} accounts:",
        "",
        "| script | all | in the commands it calls | entering it, Lua, conversions |",
        "|---|---:|---:|---:|",
    ]
    return "\n".join(head + lines)


def main() -> int:
    """Starts a redis-server under callgrind and runs itself again against it."""
    if OWN_REDIS_URL in os.environ:
        a = _args()
        print(measure(a, int(os.environ[OWN_REDIS_PID]), Path(os.environ[CALLGRIND_DIR])))
        return 0
    _args()

    def under_callgrind(folder: str) -> list[str]:
        cg = ["valgrind", "--tool=callgrind", "--dump-instr=no"]
        return ["taskset", "-c", str(LOAD_CPU), *cg, f"--callgrind-out-file={folder}/cg.%p"]

    return rerun_on_own_redis(
        "tests.bench.script_cost",
        prefix=under_callgrind,
        env=lambda folder: {CALLGRIND_DIR: folder},
        timeout_s=60.0,
    )


if __name__ == "__main__":
    raise SystemExit(main())
