"""The ledger's workers: the settler, the grant keeper and the sealer, run together
wherever ledger work runs: in `serve`, unless `SETTLER_DISABLED=1`, and in every `meterway
settler` process. A gateway that only forwards then leaves their queries, some every
second, to them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from gateway.config.settings import Settings, restore_lock_name
from gateway.services.contracts.commitments import CommitmentPorts
from gateway.stores.connect import Stores
from gateway.workers.commitment_keeper import COMMITMENT_KEEPER_EVERY_S, CommitmentKeeper
from gateway.workers.grant_keeper import GRANT_KEEPER_EVERY_S, GrantKeeper
from gateway.workers.sealer import LedgerSeals
from gateway.workers.settler import Settler
from gateway.workers.supervisor import Job, every


def ledger_settler(stores: Stores, settings: Settings) -> Settler:
    return Settler(
        stores.settlement_stream(settings.settler_name),
        stores.ledger,
        batch=settings.settler_batch,
        lanes=settings.settler_lanes,
        fence=stores.operator().restore_fence(restore_lock_name(settings)),
    )


def ledger_seals(stores: Stores, settings: Settings) -> LedgerSeals:
    return LedgerSeals(stores.ledger_proof(), settings.proof)


def ledger_jobs(
    settler: Settler, stores: Stores, stop: asyncio.Event, seals: LedgerSeals
) -> Iterator[tuple[str, Job]]:
    """(name, job) for the supervisor: the settler, the grant keeper, the commitment keeper,
    the sealer and the
    ledger's scheduled check (when LEDGER_VERIFY_EVERY_S is not 0)."""
    yield "settler", lambda: settler.run(stop=stop)
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    yield "grant_keeper", every(GRANT_KEEPER_EVERY_S, keeper.tick, stop, "grant_keeper")
    ports = CommitmentPorts(stores.ledger, stores.commitments(), stores.store)
    closer = CommitmentKeeper(ports, stores.grant_write_offs())
    yield (
        "commitment_keeper",
        every(COMMITMENT_KEEPER_EVERY_S, closer.tick, stop, "commitment_keeper"),
    )
    proof = seals.settings
    yield "ledger_sealer", every(proof.seal_every_s, seals.seal_round, stop, "ledger_sealer")
    if proof.verify_every_s:
        check = every(proof.verify_every_s, seals.verify_round, stop, "ledger_verify")
        yield "ledger_verify", check
