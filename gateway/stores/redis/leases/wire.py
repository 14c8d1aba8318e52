# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A lease's appended settlement: what a process writes to the lease's stream for each
request it admitted under the lease, and lease_apply.lua reads.

One stream field, `m`: `rid|kind|input tokens|output tokens|cost micros|row`, kind `d` (a
debit) or `f` (the provider refused the forwarded request: it stays counted in request
windows, nothing is debited, no row). `row` is the settlement message exactly as
settle.lua's packed form writes it (stores/stream_fields.py's PRICED_FIELDS, END_USER_FIELDS
with an end user), which lease_apply.lua appends to the shard's settlement stream as it is
(rewritten only when the lease cannot cover the cost). tests/integration/test_leases.py runs
the real scripts over entries made here.
"""

from __future__ import annotations

import orjson

from gateway.stores.records import Settlement
from gateway.stores.stream_fields import encode_detail

FIELD = "m"
DEBIT, REFUSED = "d", "f"


def debit_entry(
    request_id: str,
    account_id: str,
    key_id: str,
    s: Settlement,
    reserved_at_ms: int,
    settled_at_ms: int,
) -> str:
    """A debit's entry: its amounts, then its settlement message."""
    u = s.usage
    provider = s.cost_micros if s.provider_cost_micros is None else s.provider_cost_micros
    values = [
        request_id,
        "debit",
        account_id,
        key_id,
        str(s.cost_micros),
        s.model,
        s.provider,
        str(u.input_tokens),
        str(u.cached_input_tokens),
        str(u.cache_write_tokens),
        str(u.output_tokens),
        str(u.reasoning_tokens),
        u.source,
        str(reserved_at_ms),
        str(settled_at_ms),
        s.price_version if s.model else "",
        str(provider) if s.model else "",
        encode_detail(s.detail) if s.model else "",
    ]
    if s.end_user:
        values.append(s.end_user)
    row = orjson.dumps(values).decode()
    return f"{request_id}|{DEBIT}|{u.total_input_tokens}|{u.output_tokens}|{s.cost_micros}|{row}"


def refused_entry(request_id: str) -> str:
    """A forwarded request the provider refused: one request used, nothing else."""
    return f"{request_id}|{REFUSED}|0|0|0|"
