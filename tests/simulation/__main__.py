"""`python -m tests.simulation --seeds N [--steps M] [--first S] [--parallel K] [--leases]`,
or `--seed S` to replay one (printing its trace). Prints seeds per second as it goes; exits 1
at the first failing seed. `--parallel` runs K seeds at once (each on its own database and
key prefix; a seed's steps stay in order): the time is mostly waiting on the stores."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator

from tests.simulation.run import Outcome, run_seed, template

REPORT_EVERY_S = 10.0


class _Progress:
    def __init__(self, steps: int, total: int) -> None:
        self.steps, self.total, self.done = steps, total, 0
        self.started = self.last = time.monotonic()

    def tick(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= REPORT_EVERY_S or self.done == self.total:
            self.last = now
            rate = self.done / (now - self.started)
            print(f"{self.done} seeds x {self.steps} steps, {rate:.2f} seeds/s", flush=True)


async def _worker(
    name: str,
    seeds: Iterator[int],
    steps: int,
    progress: _Progress,
    failed: list[Outcome],
    leases: bool,
) -> None:
    for seed in seeds:
        if failed:
            return
        outcome = await run_seed(name, seed, steps, leases)
        if outcome.broken:
            failed.append(outcome)
            return
        progress.tick()


async def _main(args: argparse.Namespace) -> int:
    async with template() as name:
        if args.seed is not None:
            outcome = await run_seed(name, args.seed, args.steps, args.leases)
            print(outcome.report() if outcome.broken else "\n".join(outcome.trace))
            print("broken" if outcome.broken else "every invariant held")
            return 1 if outcome.broken else 0
        seeds = iter(range(args.first, args.first + args.seeds))  # shared: each seed once
        progress, failed = _Progress(args.steps, args.seeds), list[Outcome]()
        await asyncio.gather(
            *(
                _worker(name, seeds, args.steps, progress, failed, args.leases)
                for _ in range(args.parallel)
            )
        )
        for outcome in failed:
            print(outcome.report())
        return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation")
    parser.add_argument("--seeds", type=int, default=1_000_000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--seed", type=int, help="replay one seed and print its trace")
    parser.add_argument(
        "--leases", action="store_true", help="two processes leasing busy keys' calls"
    )
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
