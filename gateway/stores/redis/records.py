"""Records Redis holds: the key directory entry (hash of a key -> its facts, Python only)
and the open reservation (written by reserve.lua, read by settle.lua and the sweeper)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of


def encode_key_record(record: KeyRecord) -> str:
    return json.dumps(
        [
            record.key_id,
            record.account_id,
            record.name,
            list(record.scopes),
            list(record.models),
            record.on_insufficient,
        ]
    )


def decode_key_record(text: str | bytes) -> KeyRecord:
    key_id, account_id, name, scopes, models, on_insufficient = json.loads(text)
    return KeyRecord(
        key_id,
        account_id,
        shard_of(account_id),
        name,
        tuple(scopes),
        tuple(models),
        on_insufficient,
    )


@dataclass(frozen=True, slots=True)
class HeldCounter:
    """One quota counter a reservation added to: the key, the hash field ('' for a plain
    calendar counter) and the metric code whose amount it holds."""

    name: str
    field: str
    metric: str


@dataclass(frozen=True, slots=True)
class ReservationRecord:
    """What reserve.lua stores per open reservation (field = request id) and settle.lua
    reads back: `acct|key|held|r|i|o|reserved_at` then `|name|field|metric` per counter."""

    account_id: str
    key_id: str
    held_micros: int
    requests: int
    input_tokens: int
    output_tokens: int
    reserved_at_ms: int
    counters: tuple[HeldCounter, ...]


def decode_reservation(raw: str | bytes) -> ReservationRecord:
    text = raw.decode() if isinstance(raw, bytes) else raw
    parts = text.split("|")
    acct, key, held, r, i, o, at = parts[:7]
    rest = parts[7:]
    counters = tuple(HeldCounter(*rest[n : n + 3]) for n in range(0, len(rest) - 2, 3))
    return ReservationRecord(acct, key, int(held), int(r), int(i), int(o), int(at), counters)
