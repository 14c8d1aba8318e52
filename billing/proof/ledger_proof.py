"""The ledger's proof: each entry hashed as a leaf, each sealed range of entries as a Merkle
tree (RFC 6962's, as Certificate Transparency's logs use), and each checkpoint chained to
the one before, so editing, deleting, inserting or reordering a sealed entry changes a root
or a count that a signed checkpoint fixed.

A leaf is the entry's values in `LEAF_COLUMNS` order, each an integer, a string or null
(timestamps as integer microseconds since the epoch, JSON columns as PostgreSQL's jsonb
text), as compact JSON. The checkpoint's head is SHA-256 of its fields in `head_text`'s
order; the head is what the checkpoint's Ed25519 signature signs. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

LeafValue = int | str | None

# The entry's columns a leaf holds, in order: version 1. A column the ledger gains later is
# outside every version-1 leaf; covering it takes a new version, named on the checkpoints
# that use it (tests/unit/test_ledger_proof.py holds this list to the ledger's).
LEAF_COLUMNS = (
    "id",
    "account_id",
    "kind",
    "amount_micros",
    "request_id",
    "idempotency_key",
    "key_id",
    "model",
    "provider",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "usage_source",
    "reason",
    "occurred_at",
    "created_at",
    "meter",
    "quantity",
    "service",
    "metadata",
    "price_version",
    "provider_cost_micros",
    "usage_detail",
    "end_user",
    "tags",
)
LEAF_VERSION = 1
GENESIS = "0" * 64  # the head before the first checkpoint
_EMPTY = hashlib.sha256(b"").digest()


def leaf_bytes(values: Sequence[LeafValue]) -> bytes:
    """An entry's canonical form: its values as compact JSON, UTF-8."""
    if len(values) != len(LEAF_COLUMNS):
        raise ValueError(f"a leaf has {len(LEAF_COLUMNS)} values, got {len(values)}")
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":")).encode()


def leaf_hash(values: Sequence[LeafValue]) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_bytes(values)).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 section 2.1's Merkle Tree Hash over leaf hashes, in order."""
    if not leaves:
        return _EMPTY
    level = list(leaves)
    while len(level) > 1:  # pairing left to right, an odd last node carried up, is RFC 6962's
        paired = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


Leaf = tuple[int, bytes]  # an entry id and its leaf hash


def edited_entries(sealed: Sequence[Leaf], found: Sequence[Leaf]) -> list[str]:
    """The entries whose leaves differ between a checkpoint's sealed leaves (already checked
    against its root) and the ledger's now, each named by id: "7 changed", "8 deleted",
    "9 added" (an id the seal did not hold, or held once and now twice)."""
    then = dict(sealed)
    seen: dict[int, int] = {}
    out: list[tuple[int, str]] = []
    for entry, digest in found:
        seen[entry] = seen.get(entry, 0) + 1
        if entry not in then or seen[entry] > 1:
            out.append((entry, "added"))
        elif then[entry] != digest:
            out.append((entry, "changed"))
    out += [(entry, "deleted") for entry in then if entry not in seen]
    return [f"{entry} {what}" for entry, what in sorted(out)]


@dataclass(frozen=True)
class Checkpoint:
    """A sealed range of entry ids (after_id, last_id] with `entries` rows and their root,
    chained to the head before it."""

    seq: int
    after_id: int
    last_id: int
    entries: int
    root: str  # hex
    prev_head: str  # hex; GENESIS for the first
    version: int = LEAF_VERSION

    def head_text(self) -> bytes:
        fields = (
            "meterway-ledger-checkpoint",
            self.version,
            self.seq,
            self.after_id,
            self.last_id,
            self.entries,
            self.root,
            self.prev_head,
        )
        return "\n".join(str(f) for f in fields).encode()

    def head(self) -> str:
        return hashlib.sha256(self.head_text()).hexdigest()
