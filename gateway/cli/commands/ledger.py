"""`meterway ledger partitions --ahead N` and `meterway ledger retention --before YYYY-MM
[--yes]`: the ledger's monthly partitions, created ahead and (by an operator only) archived.
`meterway ledger seal`, `verify` and `signing-key`: its checkpoints, made now, checked
against every entry, and a new key to sign them (docs/guides/ledger.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from gateway.config.proof import ProofSettings
from gateway.config.settings import Settings
from gateway.ops.ledger_months import (
    KEEP_AHEAD,
    MonthError,
    ensure_ahead,
    parse_month,
    retain,
    retention_plan,
)
from gateway.services.proof.ledger_seal import seal, verify
from gateway.services.proof.signing_keys import SigningKeys, new_seed, public_jwk, unb64url
from gateway.stores.connect import Stores, open_stores
from gateway.stores.postgres import partitions


def add_parser(sub: Any) -> None:
    led = sub.add_parser("ledger", help="the ledger's monthly partitions and their retention")
    ops = led.add_subparsers(dest="ledger_command", required=True)
    p = ops.add_parser("partitions", help="create this month's partition and N more ahead")
    p.add_argument("--ahead", type=int, default=KEEP_AHEAD, help="months after the current one")
    r = ops.add_parser(
        "retention", help="detach whole months before YYYY-MM into archive tables (dry run)"
    )
    r.add_argument("--before", required=True, help="first month kept live, YYYY-MM")
    r.add_argument("--yes", action="store_true", help="detach; without it, only show what would")
    ops.add_parser("seal", help="seal every settled entry no checkpoint covers yet")
    v = ops.add_parser("verify", help="check every checkpoint and entry: exit 1 on any edit")
    v.add_argument("--json", action="store_true", help="the verdict as JSON")
    ops.add_parser("signing-key", help="print a new LEDGER_SIGNING_KEY (and its public key)")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.ledger_command == "signing-key":
        return _signing_key()
    try:
        async with open_stores(settings) as stores:
            if args.ledger_command in ("seal", "verify"):
                return await _proof(stores, settings, args)
            if args.ledger_command == "partitions":
                return await _partitions(stores, now, args.ahead)
            return await _retention(stores, now, parse_month(args.before), args.yes)
    except MonthError as exc:
        print(f"meterway: {exc}", file=sys.stderr)
        return 2


async def _partitions(stores: Stores, now: datetime, ahead: int) -> int:
    for added in await ensure_ahead(stores, now, ahead):
        name = partitions.partition_name(added.month)
        if not added.created:
            print(f"{name}: exists")
        else:
            print(f"{name}: created, {added.moved} row(s) moved in from DEFAULT")
    left = await stores.partitions().default_months()
    for month, n in left.items():
        print(f"DEFAULT partition holds {n} row(s) of {month:%Y-%m} (no partition for that month)")
    return 0


async def _retention(stores: Stores, now: datetime, before: date, yes: bool) -> int:
    # Confirmed, each month is summed once, inside the transaction that detaches it.
    done = await (retain if yes else retention_plan)(stores, before, now)
    if not done:
        print(f"no month before {before:%Y-%m} is attached: nothing to detach")
        return 0
    verb = "detached" if yes else "would detach"
    for m in done:
        print(
            f"{verb} {m.table}{' -> ' + m.archive if m.archive else ''}: {m.entries} entries,"
            f" {m.accounts} account(s), sum {m.amount_micros} micros"
        )
    if not yes:
        print("dry run: nothing changed; add --yes to detach (rows are kept, never deleted)")
    return 0


async def _proof(stores: Stores, settings: Settings, args: argparse.Namespace) -> int:
    keys = SigningKeys(settings.proof)
    if args.ledger_command == "seal":
        made = await seal(stores.ledger_proof(), keys, settings.proof.seal_rows)
        print(f"{made} checkpoint(s) sealed")
        return 0
    verdict = await verify(stores.ledger_proof(), keys)
    if args.json:
        print(json.dumps(verdict.report(), indent=2))
        return 0 if verdict.ok else 1
    for line in verdict.problems:
        print(f"EDITED: {line}")
    for line in verdict.unchecked:
        print(f"not checked: {line}")
    print(
        f"{verdict.checkpoints} checkpoint(s), {verdict.entries} entries checked, sealed"
        f" through id {verdict.sealed_through}, head {verdict.head}"
        + (f", {verdict.unsigned} unsigned" if verdict.unsigned else "")
    )
    print("ok: the ledger matches its checkpoints" if verdict.ok else "FAILED")
    return 0 if verdict.ok else 1


def _signing_key() -> int:
    seed = new_seed()
    public = public_jwk(SigningKeys(ProofSettings(signing_seed=unb64url(seed))).public_key())
    print(f"LEDGER_SIGNING_KEY={seed}")
    print(f"public key (for LEDGER_VERIFY_KEYS once retired): {public['x']}  kid {public['kid']}")
    return 0
