"""Sealing the ledger and checking the seals (docs/guides/ledger.md, "Proving the ledger").

`seal` turns the entries no checkpoint covers yet, up to the bound below which nothing can
still commit, into checkpoints: a Merkle root over their leaves, chained to the checkpoint
before, signed. `verify` reads every checkpoint and every entry again and names each place
where they no longer agree: a changed, deleted, added or reordered entry, a missing or
altered checkpoint, a signature that fails.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing.ledger_proof import GENESIS, Checkpoint, leaf_hash, merkle_root
from gateway.services.signing_keys import SigningKeys
from gateway.stores.ports.proof import ArchiveGap, LedgerProofPort, SealedCheckpoint

YIELD_EVERY = 200  # leaves hashed between turns of the event loop


async def seal(port: LedgerProofPort, keys: SigningKeys, max_rows: int) -> int:
    """Seal what is safe to seal, `max_rows` entries a checkpoint at most; the checkpoints
    made. Another process sealing the same range first wins, and this one stops."""
    await port.advance_safe()
    made = 0
    last = await port.last()
    while True:
        after = 0 if last is None else last.checkpoint.last_id
        upto = await port.next_range(after, max_rows)
        if upto is None:
            return made
        hashes = await _leaf_hashes(port, after, upto)
        cp = Checkpoint(
            seq=1 if last is None else last.checkpoint.seq + 1,
            after_id=after,
            last_id=upto,
            entries=len(hashes),
            root=merkle_root(hashes).hex(),
            prev_head=GENESIS if last is None else last.head,
        )
        head = cp.head()
        signed = keys.sign(head.encode())
        kid, signature = signed if signed is not None else (None, None)
        sealed = SealedCheckpoint(cp, head, kid, signature, datetime.now(UTC))
        if not await port.add(sealed):
            return made
        made += 1
        last = sealed


async def _leaf_hashes(port: LedgerProofPort, after: int, last: int) -> list[bytes]:
    """The leaves of (after, last], hashed a slice at a time: the sealer shares its process's
    event loop with requests, and a page of leaves hashed at once held it for a third of a
    second on a busy machine."""
    out: list[bytes] = []
    async for values in port.leaves(after, last):
        out.append(leaf_hash(values))
        if len(out) % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return out


@dataclass
class Verdict:
    """What `verify` found: `problems` are evidence of an edit; `unchecked` names what could
    not be checked (an archive an operator dropped, a key this process does not have)."""

    checkpoints: int = 0
    entries: int = 0
    sealed_through: int = 0  # every entry id at or below this is under a checkpoint
    head: str = GENESIS  # the newest checkpoint's head
    unsigned: int = 0
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checkpoints": self.checkpoints,
            "entries": self.entries,
            "sealed_through_id": self.sealed_through,
            "head": self.head,
            "unsigned": self.unsigned,
            "problems": self.problems[:10],
            "unchecked": self.unchecked[:10],
        }


async def verify(port: LedgerProofPort, keys: SigningKeys) -> Verdict:
    """Every checkpoint against its neighbours, its signature and the entries it seals."""
    verdict = Verdict()
    gaps = await port.dropped_archives()
    async for sealed in port.checkpoints():
        _check_chain(verdict, sealed)
        _check_signature(verdict, keys, sealed)
        await _check_entries(verdict, port, gaps, sealed.checkpoint)
        verdict.checkpoints += 1
        verdict.head, verdict.sealed_through = sealed.head, sealed.checkpoint.last_id
    return verdict


def _check_chain(verdict: Verdict, sealed: SealedCheckpoint) -> None:
    cp, seq = sealed.checkpoint, verdict.checkpoints + 1
    if cp.seq != seq:
        verdict.problems.append(f"checkpoint {seq} is missing (the next one is {cp.seq})")
    if cp.after_id != verdict.sealed_through:
        verdict.problems.append(
            f"checkpoint {cp.seq} starts after id {cp.after_id}, not where the one before"
            f" it ends ({verdict.sealed_through})"
        )
    if cp.prev_head != verdict.head:
        verdict.problems.append(f"checkpoint {cp.seq} does not name the head before it")
    if cp.head() != sealed.head:
        verdict.problems.append(f"checkpoint {cp.seq} was changed: its head no longer matches")


def _check_signature(verdict: Verdict, keys: SigningKeys, sealed: SealedCheckpoint) -> None:
    cp = sealed.checkpoint
    if sealed.kid is None or sealed.signature is None:
        verdict.unsigned += 1
        return
    good = keys.verify(sealed.kid, cp.head().encode(), sealed.signature)
    if good is None:
        verdict.unchecked.append(f"checkpoint {cp.seq} is signed by key {sealed.kid}, unknown here")
    elif not good:
        verdict.problems.append(f"checkpoint {cp.seq}'s signature does not verify")


async def _check_entries(
    verdict: Verdict, port: LedgerProofPort, gaps: list[ArchiveGap], cp: Checkpoint
) -> None:
    dropped = [g for g in gaps if g.min_id <= cp.last_id and g.max_id > cp.after_id]
    if dropped:
        verdict.unchecked.append(
            f"checkpoint {cp.seq} (ids {cp.after_id + 1}-{cp.last_id}): archive"
            f" {dropped[0].table} was dropped"
        )
        return
    hashes = await _leaf_hashes(port, cp.after_id, cp.last_id)
    verdict.entries += len(hashes)
    where = f"checkpoint {cp.seq} (ids {cp.after_id + 1}-{cp.last_id})"
    if len(hashes) != cp.entries:
        verdict.problems.append(f"{where}: {len(hashes)} entries, {cp.entries} sealed")
    elif merkle_root(hashes).hex() != cp.root:
        verdict.problems.append(f"{where}: an entry was changed or reordered")
