"""`python -m tests.simulation --seeds N [--steps M] [--first S]`, or `--seed S` to replay one
(printing its trace). Prints seeds per second as it goes; exits 1 at the first failing seed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from tests.simulation.run import run_seed, template

REPORT_EVERY_S = 10.0


async def _main(args: argparse.Namespace) -> int:
    async with template() as name:
        if args.seed is not None:
            outcome = await run_seed(name, args.seed, args.steps)
            print(outcome.report() if outcome.broken else "\n".join(outcome.trace))
            print("broken" if outcome.broken else "every invariant held")
            return 1 if outcome.broken else 0
        started = last = time.monotonic()
        for n, seed in enumerate(range(args.first, args.first + args.seeds), 1):
            outcome = await run_seed(name, seed, args.steps)
            if outcome.broken:
                print(outcome.report())
                return 1
            now = time.monotonic()
            if now - last >= REPORT_EVERY_S or n == args.seeds:
                last = now
                rate = n / (now - started)
                print(f"{n} seeds x {args.steps} steps, {rate:.2f} seeds/s", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation")
    parser.add_argument("--seeds", type=int, default=1_000_000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, help="replay one seed and print its trace")
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
