"""A load process for fault tests: reserve + settle through the real scripts, per tenant,
back to back or with a pause, until SIGTERM; then prints the settled request ids and costs
as JSON. A separate process, so the code under test does not share an event loop with it.

    python -m tests.fault.settle_load ACCOUNT:KEY_ID:GAP_S ...   (gateway env in os.environ)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import uvloop

from gateway.config.settings import load_settings
from gateway.stores.connect import Stores, open_stores
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of
from tests.fault.procs import Tenant, settle_directly


async def _settle(
    stores: Stores, t: Tenant, gap_s: float, stop: asyncio.Event, out: dict[str, int]
) -> None:
    while not stop.is_set():
        out |= await settle_directly(stores, t, 1)
        if gap_s:
            await asyncio.sleep(gap_s)


async def main(specs: list[str]) -> None:
    stop, costs = asyncio.Event(), dict[str, int]()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with open_stores(load_settings(dict(os.environ))) as stores:
        jobs = []
        for spec in specs:
            account, key_id, gap = spec.split(":")
            t = Tenant(account, "", KeyRecord(key_id, account, shard_of(account), "k", (), ()))
            jobs.append(_settle(stores, t, float(gap), stop, costs))
        print("started", flush=True)
        await asyncio.gather(*jobs)
    print(json.dumps(costs), flush=True)


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1:]))
