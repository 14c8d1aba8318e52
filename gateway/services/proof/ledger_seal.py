"""Sealing the ledger and checking the seals (docs/guides/ledger.md, "Proving the ledger").

`seal` turns the entries no checkpoint covers yet, up to the bound below which nothing can
still commit, into checkpoints: a Merkle root over their leaves, chained to the checkpoint
before, signed. `verify` reads every checkpoint and every entry again and names each place
where they no longer agree: a changed, deleted, added or reordered entry (by its id, from
the leaves each checkpoint kept), a missing or altered checkpoint, a signature that fails.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing.proof.ledger_proof import (
    GENESIS,
    Checkpoint,
    Leaf,
    edited_entries,
    leaf_hash,
    merkle_root,
)
from gateway.services.proof.signing_keys import SigningKeys
from gateway.stores.ports.proof.ledger_proof import ArchiveGap, LedgerProofPort, SealedCheckpoint

YIELD_EVERY = 200  # leaves hashed between turns of the event loop
NAMED = 20  # edited entries a problem names before "and N more"


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
        leaves = await _leaves(port, after, upto)
        hashes = [h for _, h in leaves]
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
        if not await port.add(sealed, leaves):
            return made
        made += 1
        last = sealed


async def _leaves(port: LedgerProofPort, after: int, last: int) -> list[Leaf]:
    """The leaves of (after, last] (entry id, hash), hashed a slice at a time: the sealer
    shares its process's event loop with requests, and a page of leaves hashed at once held
    it for a third of a second on a busy machine."""
    out: list[Leaf] = []
    async for values in port.leaves(after, last):
        out.append((int(values[0] or 0), leaf_hash(values)))
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
    leaves = await _leaves(port, cp.after_id, cp.last_id)
    verdict.entries += len(leaves)
    where = f"checkpoint {cp.seq} (ids {cp.after_id + 1}-{cp.last_id})"
    if len(leaves) != cp.entries:
        problem = f"{where}: {len(leaves)} entries, {cp.entries} sealed"
    elif merkle_root([h for _, h in leaves]).hex() != cp.root:
        problem = f"{where}: an entry was changed or reordered"
    else:
        return
    verdict.problems.append(problem + await _named(port, cp, leaves))


async def _named(port: LedgerProofPort, cp: Checkpoint, leaves: list[Leaf]) -> str:
    """Which entries changed: the checkpoint's sealed leaves, believed only once their
    Merkle root is the checkpoint's (signed) root, against the ledger's leaves now."""
    sealed = await port.sealed_leaves(cp.seq)
    if sealed is None:
        return ""  # sealed before leaves were kept: the range is all it can name
    if merkle_root([h for _, h in sealed]).hex() != cp.root:
        return " (its stored leaves were changed too: no entry can be named)"
    edited = edited_entries(sealed, leaves)
    shown = ", ".join(edited[:NAMED])
    more = f" and {len(edited) - NAMED} more" if len(edited) > NAMED else ""
    return f" (entries {shown}{more})"
