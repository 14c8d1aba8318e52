"""`meterway settler`: run only the ledger's workers (the settler and the grant keeper);
`meterway settler dead-letters [--requeue]`: what it parked, and sending it back once the
cause is fixed."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runners' modules load when a command runs, not for `--help`
    from gateway.config.settings import Settings
    from gateway.stores.connect import Stores
    from gateway.stores.records import DeadLetter


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("settler", help="run the ledger's workers: the settler and the grant keeper")
    commands = s.add_subparsers(dest="settler_command")
    d = commands.add_parser(
        "dead-letters", help="list settlements the ledger refused (exit 1 if any)"
    )
    d.add_argument("--requeue", action="store_true", help="send them back to their stream")
    d.add_argument("--id", action="append", dest="ids", help="only this entry (repeatable)")
    d.add_argument("--limit", type=int, default=1000)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.runtime import quiet_collector
    from gateway.stores.connect import open_stores

    async with open_stores(settings) as stores:
        if args.settler_command != "dead-letters":
            quiet_collector()  # its batches make thousands of short-lived objects, no cycles
            await run_ledger_workers(stores, settings)
            return 0
        stream = stores.settlement_stream(settings.settler_name)
        if args.requeue:
            moved = await stream.requeue(args.ids)
            print(f"{moved} settlement(s) sent back to their stream")
            return 0
        letters = await stream.dead_letters(args.limit)
        total = await stream.dead_letter_count()
    for letter in letters:
        print(json.dumps(describe(letter)))
    print(f"{total} settlement(s) parked")
    return 1 if total else 0


def describe(letter: DeadLetter) -> dict[str, object]:
    text = {
        k.decode(errors="replace"): v.decode(errors="replace") for k, v in letter.fields.items()
    }
    return {
        "id": letter.entry_id,
        "shard": letter.shard,
        "message_id": letter.message_id,
        "parked_at_ms": letter.parked_at_ms,
        "reason": letter.reason,
        "request_id": letter.request_id,
        "account_id": letter.account_id,
        "fields": text,
    }


async def run_ledger_workers(stores: Stores, settings: Settings) -> None:
    """Until SIGINT or SIGTERM; the settler then acknowledges what it wrote and stops."""
    from gateway.workers.ledger_jobs import ledger_jobs, ledger_seals, ledger_settler
    from gateway.workers.supervisor import Supervisor

    supervisor = Supervisor()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stop.set)
    settler = ledger_settler(stores, settings)
    seals = ledger_seals(stores, settings)
    for name, job in ledger_jobs(settler, stores, supervisor.stop, seals):
        supervisor.start(name, job)
    try:
        await supervisor.stop.wait()
    finally:
        await supervisor.close()
