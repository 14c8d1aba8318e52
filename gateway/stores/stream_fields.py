"""The settlement stream's message, as settle.lua writes it and the settler reads it.

settle.lua appends one message per closed reservation (debit or void; a release writes
nothing) to its shard's stream: one field, `row`, holding a JSON array of the values named
below, in this order (every value a string, so an amount never passes through a double).
One field instead of fifteen pairs costs Redis, the reply parser and the settler a quarter
of the work per message (docs/performance.md, "The figures behind the code").

A message queued before that format (one stream field per name below) still reads: a
backlog or a parked message from an older version lands the same. `named` gives either form
as named fields, for the readers that are not on the settler's path (reconcile, the balance
repair, the dead-letter listing).

This module is the format's one Python home: the settler turns a message into a ledger row
here, and `meterway rebuild` reads queued costs here. tests/integration/test_wire_formats.py
runs the real script and checks both sides agree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

ROW = b"row"  # the one field of a message: a JSON array of FIELDS (METERED_FIELDS) values
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
# Only on an LLM call's settlement queued since the ledger records its prices, after the
# first fifteen ('' for a void):
PRICE_VERSION = b"pv"  # the rate card that priced the call (price_versions.version)
PROVIDER_COST = b"pc"  # micros, the provider's cost before the account's markup
DETAIL = b"dt"  # the priced dimensions beyond the token columns, a JSON object ('' = none)
# Only on an LLM call's debit that named its end user (billing/money/end_users.py), after the
# eighteen of a priced row:
END_USER = b"eu"  # the request's end user id
# Only on a grant's write-off (kind `expire`, written by write_off.lua), after the first
# fifteen (model, provider, key and tokens empty):
GRANT = b"grant"  # the credit grant whose rest is written off
CAUSE = b"cause"  # expired | revoked
# Only on the part of a debit the account could not pay (kind `uncollected`, queued by
# settle.lua right after its debit), after the debit's first fifteen (cost: the micros not
# collected):
WHY = b"why"  # balance | window: what had no room for it

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
PRICED_FIELDS = (*FIELDS, PRICE_VERSION, PROVIDER_COST, DETAIL)  # an LLM call's, in order
END_USER_FIELDS = (*PRICED_FIELDS, END_USER)  # an LLM call's that named its end user
METERED_FIELDS = (*FIELDS, METER, QUANTITY, SERVICE, OCCURRED_AT, METADATA)  # in order
WRITE_OFF_FIELDS = (*FIELDS, GRANT, CAUSE)  # a grant's write-off, in order
UNCOLLECTED_FIELDS = (*FIELDS, WHY)  # the part of a debit not collected, in order
# By a row's length: an LLM call's row of 15 values was queued before prices were recorded.
_NAMES = {
    len(FIELDS): FIELDS,
    len(PRICED_FIELDS): PRICED_FIELDS,
    len(END_USER_FIELDS): END_USER_FIELDS,
    len(METERED_FIELDS): METERED_FIELDS,
    len(WRITE_OFF_FIELDS): WRITE_OFF_FIELDS,
    len(UNCOLLECTED_FIELDS): UNCOLLECTED_FIELDS,
}

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
    "price_version",
    "provider_cost_micros",
    "usage_detail",
    "end_user",
)


KINDS = frozenset({"debit", "void"})
WRITE_OFF = "expire"  # the kind of a write-off row, the only kind it may have
# The kind of an uncollected row, the only kind it may have: never a ledger entry (the
# account did not pay it), written to the operator's receivables (`uncollected_debits`).
UNCOLLECTED = "uncollected"
WHYS = frozenset({"balance", "window"})
CAUSES = frozenset({"expired", "revoked"})
BIGINT_MAX = 2**63 - 1  # the ledger's bigint columns; a larger count cannot be written


class MalformedSettlement(ValueError):
    """A stream message no ledger row can be made of: a field missing, unreadable or out of
    the ledger's range. Permanent: the settler parks it in the dead-letter stream with this
    reason instead of retrying it (or stopping every good message behind it)."""


def ledger_row_raw(f: Mapping[bytes, bytes]) -> tuple[Any, ...]:
    """One stream message, as Redis returns it, as a row of LEDGER_COLUMNS.

    Raises MalformedSettlement (never KeyError, OverflowError, ...).
    """
    try:
        return _row(values(f))
    except MalformedSettlement:
        raise
    except (KeyError, ValueError, TypeError, OverflowError, OSError, AttributeError) as exc:
        raise MalformedSettlement(f"unreadable message: {type(exc).__name__}: {exc}") from exc


def values(f: Mapping[bytes, bytes]) -> list[str]:
    """The message's values in FIELDS (METERED_FIELDS) order, whichever form it has."""
    packed = f.get(ROW)
    if packed is not None:
        out = orjson.loads(packed)
        if type(out) is not list or not all(type(v) is str for v in out):
            raise MalformedSettlement("the row is not an array of strings")
        return out
    # A metered message queued before metadata existed has no `md`.
    return [f[n].decode() if n != METADATA else f.get(n, b"").decode() for n in _names_of(f)]


def _names_of(f: Mapping[bytes, bytes]) -> tuple[bytes, ...]:
    """The names a message of named fields holds: a meter's, an LLM call's with its prices,
    or an LLM call's queued before prices were recorded."""
    if f.get(METER):
        return METERED_FIELDS
    if GRANT in f:
        return WRITE_OFF_FIELDS
    if WHY in f:
        return UNCOLLECTED_FIELDS
    if END_USER in f:
        return END_USER_FIELDS
    return PRICED_FIELDS if PRICE_VERSION in f else FIELDS


def named(f: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """The message as named fields, whichever form it has, for people and the readers off
    the settler's path; other fields (the dead-letter stream's x-reason, ...) are kept. A
    row that cannot be read is left as it is, so a parked message still shows what it held."""
    try:
        row = values(f) if ROW in f else None
    except (ValueError, TypeError):
        row = None
    names = None if row is None else _NAMES.get(len(row))
    if row is None or names is None:
        return dict(f)
    out = {k: v for k, v in f.items() if k != ROW}
    out.update(zip(names, (v.encode() for v in row), strict=True))
    return out


def packed(f: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """The inverse of `named`: a message of named fields as settle.lua queues it now (tests
    and tools that make messages; settle.lua is the only writer in service)."""
    return {ROW: orjson.dumps([f.get(n, b"").decode() for n in _names_of(f)])}


def _count(value: str, name: str) -> int:
    """A non-negative integer the ledger's bigint columns can hold."""
    n = int(value or 0)
    if not 0 <= n <= BIGINT_MAX:
        raise MalformedSettlement(f"{name} out of range: {n}")
    return n


def _row(v: Sequence[str]) -> tuple[Any, ...]:
    if len(v) not in _NAMES:
        raise MalformedSettlement(f"a row of {len(v)} values")
    rid, kind, account, key, cost_text, model, provider = v[:7]
    write_off = len(v) == len(WRITE_OFF_FIELDS)
    uncollected = len(v) == len(UNCOLLECTED_FIELDS)
    if _kind_mismatch(kind, write_off, uncollected):
        raise MalformedSettlement(f"unknown kind {kind!r} in a row of {len(v)} values")
    if uncollected and v[15] not in WHYS:
        raise MalformedSettlement(f"an uncollected part of unknown cause {v[15]!r}")
    cost = _count(cost_text, "cost")
    if kind == "void" and cost:
        raise MalformedSettlement(f"a void cannot cost {cost}")
    if not account or not rid:
        raise MalformedSettlement("no account or request id")
    source, settled_at = v[12], v[14]
    metered = v[15:] if len(v) == len(METERED_FIELDS) else ()
    occurred = metered[3] if metered else ""
    if (write_off or uncollected) and not cost:
        raise MalformedSettlement(f"a {kind} of nothing")
    return (
        account,
        kind,
        -cost,
        rid,
        key or None,
        model or None,
        provider or None,
        _count(v[7], "input_tokens"),
        _count(v[8], "cached_input_tokens"),
        _count(v[9], "cache_write_tokens"),
        _count(v[10], "output_tokens"),
        _count(v[11], "reasoning_tokens"),
        (source or None) if kind in ("debit", UNCOLLECTED) else None,
        datetime.fromtimestamp(int(occurred or settled_at) / 1000, UTC),
        *(_written_off(v[15:]) if write_off else _why(v[15]) if uncollected else _metered(metered)),
        *_priced(v[15:18] if len(v) in (len(PRICED_FIELDS), len(END_USER_FIELDS)) else ()),
        (v[18] or None) if len(v) == len(END_USER_FIELDS) else None,
    )


def _kind_mismatch(kind: str, write_off: bool, uncollected: bool) -> bool:
    """A write-off and an uncollected part each have their own length and kind."""
    if (kind == WRITE_OFF) != write_off or (kind == UNCOLLECTED) != uncollected:
        return True
    return kind not in KINDS and not (write_off or uncollected)


def _why(why: str) -> tuple[None, None, None, str]:
    """(meter, quantity, service, metadata JSON) of an uncollected part: the metadata says
    what had no room for it (the receivables table keeps it as its `why`)."""
    return None, None, None, orjson.dumps({"why": why}).decode()


def _written_off(w: Sequence[str]) -> tuple[None, None, None, str]:
    """(meter, quantity, service, metadata JSON) of a write-off: the metadata names the
    grant and why (postgres/grants.py allocates the entry to that grant)."""
    grant, cause = w
    if not (grant.isdigit() and len(grant) <= 18) or cause not in CAUSES:
        raise MalformedSettlement(f"a write-off of grant {grant!r} ({cause!r})")
    return None, None, None, orjson.dumps({"grant_id": int(grant), "cause": cause}).decode()


def _metered(m: Sequence[str]) -> tuple[str | None, int | None, str | None, str | None]:
    """(meter, quantity, service, metadata JSON) of a metered settlement; all None for an
    LLM call."""
    if not m or not m[0]:
        return None, None, None, None
    meter, quantity, service, _, md = m
    metadata = base64.b64decode(md).decode() if md else None
    if metadata is not None:
        json.loads(metadata)  # jsonb would refuse it for the whole batch
    return meter, _count(quantity, "quantity"), service or None, metadata


def _priced(p: Sequence[str]) -> tuple[str | None, int | None, str | None]:
    """(price version, provider cost, detail JSON) of an LLM call's debit; all None for a
    void, a meter, or a row queued before prices were recorded."""
    if not p:
        return None, None, None
    version, cost, detail = p
    if detail:
        json.loads(detail)  # jsonb would refuse it for the whole batch
    return version or None, _count(cost, "provider_cost") if cost else None, detail or None


def encode_detail(detail: Sequence[tuple[str, int | str]]) -> str:
    """A settlement's priced detail as the stream and the ledger's usage_detail hold it: a
    JSON object of its pairs ('' for none)."""
    return orjson.dumps(dict(detail)).decode() if detail else ""


def ledger_row(fields: Mapping[str, str]) -> tuple[Any, ...]:
    """The same for a message whose fields were already decoded to text."""
    return ledger_row_raw({k.encode(): v.encode() for k, v in fields.items()})


class QueuedSettlement(NamedTuple):
    """What the readers off the settler's path need of a message not yet in the ledger."""

    request_id: str
    kind: str
    account_id: str
    cost_micros: int


def queued(f: Mapping[bytes, bytes]) -> QueuedSettlement | None:
    """A message not yet written to the ledger, or None for one too damaged to say (parked
    as unreadable: reconcile reports those apart, they name no account)."""
    try:
        v = values(f)
        # An uncollected part moved no balance: nothing of it is owed to the ledger's balance.
        return QueuedSettlement(v[0], v[1], v[2], 0 if v[1] == UNCOLLECTED else int(v[4]))
    except (KeyError, ValueError, TypeError, IndexError, AttributeError):
        return None


def readable_cost(f: Mapping[bytes, bytes]) -> tuple[str, int] | None:
    """(account id, cost in micros) of a queued message, or None as for `queued`."""
    q = queued(f)
    return None if q is None else (q.account_id, q.cost_micros)
