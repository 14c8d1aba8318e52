"""The settlement stream's message, as settle.lua writes it and the settler reads it.

settle.lua appends one message per closed reservation (debit or void; a release writes
nothing) to its shard's stream with these fields, in this order. This module is their one
Python home: the settler turns a message into a ledger row here, and `meterway rebuild`
reads queued costs here. tests/integration/test_wire_formats.py runs the real script and
checks both sides agree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

REQUEST_ID = b"rid"
KIND = b"kind"  # debit | void
ACCOUNT = b"acct"
KEY = b"key"
COST = b"cost"  # micros, positive for a debit
MODEL = b"model"
PROVIDER = b"provider"
INPUT = b"in"  # uncached input tokens
CACHED_INPUT = b"cin"
CACHE_WRITE = b"cw"
OUTPUT = b"out"
REASONING = b"rsn"
SOURCE = b"src"  # where the usage came from (provider, counted, ...)
RESERVED_AT = b"at"  # ms, Redis clock, when the reservation was made
SETTLED_AT = b"st"  # ms, Redis clock, when it was closed: the ledger's occurred_at
# Only on a metered (non-token) settlement, after the fields above:
METER = b"meter"  # the meter's name
QUANTITY = b"qty"  # units settled
SERVICE = b"svc"  # the service that authorized or reported it
OCCURRED_AT = b"occ"  # ms a reported event says it happened ('' = SETTLED_AT)
METADATA = b"md"  # the metadata the service sent, base64 of its JSON ('' = none)

FIELDS = (
    REQUEST_ID,
    KIND,
    ACCOUNT,
    KEY,
    COST,
    MODEL,
    PROVIDER,
    INPUT,
    CACHED_INPUT,
    CACHE_WRITE,
    OUTPUT,
    REASONING,
    SOURCE,
    RESERVED_AT,
    SETTLED_AT,
)

# The ledger_entries columns a message fills, in the order `ledger_row` returns them.
LEDGER_COLUMNS = (
    "account_id",
    "kind",
    "amount_micros",
    "request_id",
    "key_id",
    "model",
    "provider",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "usage_source",
    "occurred_at",
    "meter",
    "quantity",
    "service",
    "metadata",
)


KINDS = frozenset({"debit", "void"})
BIGINT_MAX = 2**63 - 1  # the ledger's bigint columns; a larger count cannot be written


class MalformedSettlement(ValueError):
    """A stream message no ledger row can be made of: a field missing, unreadable or out of
    the ledger's range. Permanent: the settler parks it in the dead-letter stream with this
    reason instead of retrying it (or stopping every good message behind it)."""


def ledger_row_raw(f: Mapping[bytes, bytes]) -> tuple[Any, ...]:
    """One stream message, as Redis returns it, as a row of LEDGER_COLUMNS.

    Works on the raw bytes: decoding every field of every message was most of the
    settler's CPU. Raises MalformedSettlement (never KeyError, OverflowError, ...).
    """
    try:
        return _row(f)
    except MalformedSettlement:
        raise
    except (KeyError, ValueError, TypeError, OverflowError, OSError, AttributeError) as exc:
        raise MalformedSettlement(f"unreadable message: {type(exc).__name__}: {exc}") from exc


def _count(value: bytes | None, name: str) -> int:
    """A non-negative integer the ledger's bigint columns can hold."""
    n = int(value or 0)
    if not 0 <= n <= BIGINT_MAX:
        raise MalformedSettlement(f"{name} out of range: {n}")
    return n


def _row(f: Mapping[bytes, bytes]) -> tuple[Any, ...]:
    kind = f[KIND].decode()
    if kind not in KINDS:
        raise MalformedSettlement(f"unknown kind {kind!r}")
    cost = _count(f[COST], "cost")
    if kind == "void" and cost:
        raise MalformedSettlement(f"a void cannot cost {cost}")
    account, request_id = f[ACCOUNT].decode(), f[REQUEST_ID].decode()
    if not account or not request_id:
        raise MalformedSettlement("no account or request id")
    return (
        account,
        kind,
        -cost,
        request_id,
        f[KEY].decode() or None,
        f[MODEL].decode() or None,
        f[PROVIDER].decode() or None,
        _count(f[INPUT], "input_tokens"),
        _count(f[CACHED_INPUT], "cached_input_tokens"),
        _count(f[CACHE_WRITE], "cache_write_tokens"),
        _count(f[OUTPUT], "output_tokens"),
        _count(f[REASONING], "reasoning_tokens"),
        (f[SOURCE].decode() or None) if kind == "debit" else None,
        datetime.fromtimestamp(int(f.get(OCCURRED_AT) or f[SETTLED_AT]) / 1000, UTC),
        *_metered(f),
    )


def _metered(
    f: Mapping[bytes, bytes],
) -> tuple[str | None, int | None, str | None, str | None]:
    """(meter, quantity, service, metadata JSON) of a metered settlement; all None for an
    LLM call. A message queued before metadata existed has no `md` field: None."""
    meter = f.get(METER)
    if not meter:
        return None, None, None, None
    md = f.get(METADATA)
    metadata = base64.b64decode(md).decode() if md else None
    if metadata is not None:
        json.loads(metadata)  # jsonb would refuse it for the whole batch
    return meter.decode(), _count(f[QUANTITY], "quantity"), f[SERVICE].decode() or None, metadata


def ledger_row(fields: Mapping[str, str]) -> tuple[Any, ...]:
    """The same for a message whose fields were already decoded to text."""
    return ledger_row_raw({k.encode(): v.encode() for k, v in fields.items()})


def queued_cost(f: Mapping[Any, Any]) -> tuple[str, int]:
    """(account id, cost in micros) of a message not yet written to the ledger."""
    return f[ACCOUNT].decode(), int(f[COST])


def readable_cost(f: Mapping[Any, Any]) -> tuple[str, int] | None:
    """The same, or None for a message too damaged to say (one parked as unreadable:
    reconcile reports those apart, they name no account)."""
    try:
        return queued_cost(f)
    except (KeyError, ValueError, AttributeError):
        return None


METERED_FIELDS = (*FIELDS, METER, QUANTITY, SERVICE, OCCURRED_AT, METADATA)  # in order
