"""`python -m tests.bench.script_cost [--calls N] [--check | --update] [--keep DIR]`

Redis's instructions per call of reserve.lua and of settle.lua, each driven alone through
`HotStore`: a redis-server of the bench's own under `valgrind --tool=callgrind` (pinned to
the load CPU), the bench's population (100 accounts on "pro", 1,000 keys with two key quotas
each), N reserves one at a time (each read alone, as at c=1), then their N settlements, after
a warm-up round of each 32 at a time. Counted: what Redis spends processing what it read
(`processInputBuffer`: parsing and running the call), not the socket's system calls or the
timer's housekeeping, whose share moves with wall time.
The counters are zeroed before each phase and dumped after it. The commands the scripts
call (everything under Redis's `call()` from inside Lua) are given apart from the rest:
entering the script, the Lua interpreter, its strings, tables and collector, converting
arguments and replies.

Why: on a VM like the tenth pass's a script's time is wall time every request waits for,
and that time moves by +-20% between runs; this count moves by under 1%, enough to judge a
variant of a script: copy the tree (`git archive HEAD gateway billing tests config`), edit
its .lua, and run this module from the copy.

The check (issue 61): each script's count is also given as a ratio to an empty script's
(`return 0`, no keys or arguments) sent the same way in the same run (N calls, one at a
time, through the same lean client), so the figure is the scripts' work and not the build
of Redis that runs them. A plain INCRBY, tried first as the unit, moved by 6% between runs
(the keyspace's incremental rehashing) and a PING by 1.4%: a few dozen instructions of a few
thousand; the empty script's ~11,400 make them a fraction of a percent. `--check` fails
naming the script whose ratio grew past `script_cost_baseline.json`'s threshold (5%: a
script's own work follows how many calls each 5 s granule of its windows holds, which a slow
machine spreads: reserve.lua's count moved 1.6% on a busy clean-clone run);
`--update` writes the new ratios there. Run by hand, not in CI: under the suite's load two
clean-clone runs read +3.7% and +25.9% with nothing changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from billing.metering.usage import Usage
from gateway.services.auth import hash_key
from gateway.stores.connect import open_stores
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.wire.resp import WireScript
from tests.bench import fixtures
from tests.bench.__main__ import _settings
from tests.bench.procs import (
    OWN_REDIS_PID,
    OWN_REDIS_URL,
    callgrind,
    dump,
    rerun_on_own_redis,
)
from tests.bench.targets import LOAD_CPU

CALLGRIND_DIR = "MWBENCH_CALLGRIND_DIR"
BASELINE = Path(__file__).with_name("script_cost_baseline.json")
CONCURRENCY = 32
SCRIPTS = ("reserve.lua", "settle.lua")
EMPTY = "an empty script"  # `return 0`, no keys, no arguments: the guard's unit
Step = Callable[[KeyRecord, str], Awaitable[None]]


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.script_cost", description=__doc__)
    p.add_argument("--calls", type=int, default=1000, help="reserves (and settles) per phase")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--keep", type=Path, help="copy each phase's dump here (callgrind_annotate)")
    p.add_argument("--check", action="store_true", help="fail past the baseline's threshold")
    p.add_argument("--update", action="store_true", help="write the ratios as the baseline")
    return p.parse_args()


def _split(dumped: Path) -> tuple[int, int]:
    """Of one dump: the instructions Redis spent processing what it read (parsing and running
    the commands: `processInputBuffer`, which leaves out the socket's system calls and the
    timer's housekeeping, whose share moves with wall time), and of them those under its
    call() from inside a script."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", str(dumped)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    def first(marker: str) -> int:
        found = [ln.split()[0] for ln in out.splitlines() if marker in ln]
        return int(found[0].replace(",", "")) if found else 0

    # `call` is recursive here: the EVALSHA's own call() and, below it, each command's
    # (callgrind names the second level call'2).
    return first(":processInputBuffer "), first(":call'2 ")


async def _drive(
    a: argparse.Namespace, pid: int, folder: Path, work: Path
) -> tuple[dict[str, tuple[int, int]], int]:
    """Per script: (instructions processing a call, of them in the commands it called); and a
    the empty script's instructions processing a call."""
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

        wire = hot.wire
        assert wire is not None, "the lean client runs the scripts"

        empty = WireScript(wire, "return 0")

        async def nothing(key: KeyRecord, rid: str) -> None:
            await empty((), ())

        async def phase(step: Step, calls: list[tuple[KeyRecord, str]], lanes: int) -> None:
            async def lane(first: int) -> None:
                for key, rid in calls[first::lanes]:
                    await step(key, rid)

            await asyncio.gather(*(lane(n) for n in range(lanes)))

        def calls() -> list[tuple[KeyRecord, str]]:
            return [(records[n % len(records)], f"req_{uuid.uuid4().hex}") for n in range(a.calls)]

        warm = calls()
        await phase(reserve, warm, CONCURRENCY)
        await phase(settle, warm, CONCURRENCY)
        await phase(nothing, warm, CONCURRENCY)
        measured, per_call = calls(), {}
        for name, step in (("reserve.lua", reserve), ("settle.lua", settle), (EMPTY, nothing)):
            callgrind(pid, "-z")
            await phase(step, measured, 1)
            dumped = dump(pid, folder)
            if a.keep is not None:
                a.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(dumped, a.keep / f"{name}.cg")
            processed, commands = _split(dumped)
            per_call[name] = (processed // a.calls, commands // a.calls)
    await fixtures.drop_prefix()
    await fixtures.drop_database()
    return {n: per_call[n] for n in SCRIPTS}, per_call[EMPTY][0]


def grown(ratios: dict[str, float], baseline: dict[str, object]) -> list[str]:
    """One line per script whose ratio to an empty script's call grew past the threshold."""
    threshold = float(baseline["threshold"])  # type: ignore[arg-type]
    held = baseline["ratio_to_empty_script"]
    assert isinstance(held, dict)
    return [
        f"{name}: {ratios[name]:.2f} empty script calls a call, baseline {float(held[name]):.2f} "
        f"(+{ratios[name] / float(held[name]) - 1:.1%}, threshold {threshold:.0%})"
        for name in SCRIPTS
        if ratios[name] > float(held[name]) * (1 + threshold)
    ]


def measure(a: argparse.Namespace, pid: int, folder: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="mwscripts-") as work:
        per_call, incr = uvloop.run(_drive(a, pid, folder, Path(work)))
    ratios = {name: all_ / incr for name, (all_, _) in per_call.items()}
    lines = [
        f"Redis instructions per script call (callgrind), {a.calls:,} calls per phase, one "
        f"at a time, {a.keys:,} keys on {a.accounts} accounts; an empty script sent the same "
        f"way: {incr:,}",
        "",
        "| script | processing a call | in the commands it calls | entering it, Lua, "
        "conversions | / empty script |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {all_:,} | {inside:,} | {all_ - inside:,} | {ratios[name]:.2f} |"
        for name, (all_, inside) in per_call.items()
    ]
    print("\n".join(lines))
    baseline = json.loads(BASELINE.read_text())
    if a.update:
        baseline["ratio_to_empty_script"] = {n: round(r, 2) for n, r in ratios.items()}
        BASELINE.write_text(json.dumps(baseline, indent=2) + "\n")
        print(f"baseline written: {BASELINE}")
    elif a.check:
        more = grown(ratios, baseline)
        if more:
            print("\n".join(["Redis's work per script call grew:", *more]))
            return 1
        print("within the baseline")
    return 0


def main() -> int:
    """Starts a redis-server under callgrind and runs itself again against it."""
    if OWN_REDIS_URL in os.environ:
        a = _args()
        return measure(a, int(os.environ[OWN_REDIS_PID]), Path(os.environ[CALLGRIND_DIR]))
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
