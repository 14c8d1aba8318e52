"""Records Redis holds: the key directory entry (hash of a key -> its facts, Python only)
and the open reservation (written by reserve.lua, read by settle.lua and the sweeper)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from billing.money.next_step import FullWindow
from gateway.stores.meter_records import ServiceRecord
from gateway.stores.records import GrantEnd, KeyRecord, KeyState
from gateway.stores.redis.keys import shard_of

# A key hash's `st`, as reserve.lua reads it: anything but active is refused.
KEY_STATES: dict[KeyState, str] = {"active": "a", "paused": "p", "revoked": "r"}


def encode_key_record(record: KeyRecord) -> str:
    return json.dumps(
        [
            record.key_id,
            record.account_id,
            record.name,
            list(record.scopes),
            list(record.models),
            record.on_insufficient,
            list(record.providers),
            list(record.ancestors),
        ]
    )


def decode_key_record(text: str | bytes) -> KeyRecord:
    """An entry of six fields was written before keys could pin providers: it pins none;
    one of seven, before keys knew their ancestors."""
    key_id, account_id, name, scopes, models, on_insufficient, *rest = json.loads(text)
    return KeyRecord(
        key_id,
        account_id,
        shard_of(account_id),
        name,
        tuple(scopes),
        tuple(models),
        on_insufficient,
        tuple(rest[0]) if rest else (),
        tuple(rest[1]) if len(rest) > 1 else (),
    )


HEAD_FIELDS = 12  # fields before the counters; settle.lua and meter_extend.lua start at 13


@dataclass(frozen=True, slots=True)
class HeldCounter:
    """One quota counter a reservation added to: the key, the hash field ('' for a plain
    calendar counter), the metric code whose amount it holds and the window's limit, which
    settle.lua keeps the counter under (None in a record written before limits were kept)."""

    name: str
    field: str
    metric: str
    limit: int | None = None


def _counter(name: str, field: str, slot: str) -> HeldCounter:
    """A counter triple; its metric slot is `metric<limit` (or a bare metric)."""
    metric, _, limit = slot.partition("<")
    return HeldCounter(name, field, metric, int(limit) if limit else None)


@dataclass(frozen=True, slots=True)
class ReservationRecord:
    """What reserve.lua stores per open reservation (field = request id) and settle.lua
    reads back: `acct|key|held|r|i|o|reserved_at|meter|quantity|service|on expiry|occurred
    at` then `|name|field|metric<limit` per counter; `on expiry` is `C` for an LLM call held
    against its account's commitment. The meter fields are empty (quantity 0) for
    an LLM call; a meter is stored as its quota code `m.<name>`."""

    account_id: str
    key_id: str
    held_micros: int
    requests: int
    input_tokens: int
    output_tokens: int
    reserved_at_ms: int
    counters: tuple[HeldCounter, ...]
    meter: str = ""
    max_quantity: int = 0
    service: str = ""
    charge_on_expiry: bool = False
    occurred_at_ms: int | None = None
    metadata: str = ""  # a meter's metadata, base64 of its JSON, as the record carries it
    committed: bool = False  # an LLM call held against its account's commitment (`C`)


def decode_reservation(raw: str | bytes) -> ReservationRecord:
    text = raw.decode() if isinstance(raw, bytes) else raw
    parts = text.split("|")
    acct, key, held, r, i, o, at, meter, mq, service, expiry, occurred = parts[:HEAD_FIELDS]
    rest = parts[HEAD_FIELDS:]
    metadata = rest.pop() if len(rest) % 3 == 1 else ""  # trails the counter triples
    counters = tuple(_counter(*rest[n : n + 3]) for n in range(0, len(rest) - 2, 3))
    return ReservationRecord(
        acct,
        key,
        int(held),
        int(r),
        int(i),
        int(o),
        int(at),
        counters,
        meter.removeprefix("m."),
        int(mq or 0),
        service,
        expiry.startswith("c"),  # then `n`: its events may pass the balance's floor
        int(occurred) if occurred else None,
        metadata,
        expiry == "C",
    )


def encode_service(record: ServiceRecord) -> str:
    return json.dumps([record.service_id, record.name, list(record.meters)])


def decode_service(text: str | bytes) -> ServiceRecord:
    service_id, name, meters = json.loads(text)
    return ServiceRecord(service_id, name, tuple(meters))


def encode_grant_ends(ends: Sequence[GrantEnd]) -> str:
    """The account hash's `gx`: `id:rest@end_ms`, comma-separated (ends of no rest left out)."""
    return ",".join(f"{e.grant_id}:{e.rest_micros}@{e.end_ms}" for e in ends if e.rest_micros)


def decode_grant_ends(raw: str | bytes | None) -> tuple[GrantEnd, ...]:
    text = (raw.decode() if isinstance(raw, bytes) else raw) or ""
    out = []
    for entry in filter(None, text.split(",")):
        grant, rest_end = entry.split(":", 1)
        rest, end = rest_end.split("@", 1)
        out.append(GrantEnd(int(grant), int(rest), int(end)))
    return tuple(out)


def encode_refusal(window: FullWindow) -> str:
    """The account hash's `lq`: its last refused account window, as the next step reads it
    (`window, metric, used, limit, resets_at, requested`)."""
    w = window
    return json.dumps([w.window, w.metric, w.used, w.limit, w.resets_at, w.requested])


def decode_refusal(raw: str | bytes | None) -> FullWindow | None:
    if not raw:
        return None
    window, metric, used, limit, resets_at, requested = json.loads(raw)
    return FullWindow(window, metric, used, limit, resets_at, "account", requested)
