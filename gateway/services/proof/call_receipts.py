"""A call's receipt: its debit as the ledger holds it (request id, time, model, usage by
kind, price version, cost), signed with Meterway's Ed25519 key as a compact JWS that anyone
can check offline against /.well-known/meterway-keys.json, and naming the ledger checkpoint
that sealed the entry (its number and head, and the entry's leaf hash), once one has.

Built from the ledger's row, never from the answer: a receipt says what was billed. It never
carries the provider's cost (docs/guides/ledger.md, "Receipts").
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from billing import audience
from billing.proof.ledger_proof import LEAF_COLUMNS, leaf_hash
from gateway.services.proof.signing_keys import SigningKeys
from gateway.stores.ports.proof.ledger_proof import LedgerProofPort
from gateway.stores.records import Row, Settlement

RECEIPT_TYP = "meterway-receipt+jws"
USAGE_KINDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def receipt_claims(debit: Row, issued_at: int) -> dict[str, Any]:
    """What the receipt states: the debit row's facts a customer may read."""
    occurred: datetime = debit["occurred_at"]
    usage: dict[str, Any] = {k: int(debit.get(k) or 0) for k in USAGE_KINDS}
    detail = debit.get("usage_detail")
    if detail:
        decoded = json.loads(detail) if isinstance(detail, str) else dict(detail)
        usage["detail"] = audience.for_customer(decoded)  # no price book: the operator's
    return {
        "iat": issued_at,
        "sub": debit["account_id"],
        "rid": debit["request_id"],
        "entry_id": int(debit["id"]),
        "time": int(occurred.timestamp() * 1_000_000) // 1000,  # ms since the epoch
        "model": debit.get("model"),
        "key_id": debit.get("key_id"),
        "usage": usage,
        "usage_source": debit.get("usage_source"),
        "price_version": debit.get("price_version"),
        "cost_micros": -int(debit["amount_micros"]),
    }


async def sealed_in(port: LedgerProofPort, debit: Row) -> dict[str, Any] | None:
    """The checkpoint that sealed this entry, and the entry's leaf hash; None before one has."""
    found = await port.covering(int(debit["id"]))
    if found is None:
        return None
    values = await port.leaf(int(debit["id"]))
    return {
        "seq": found.checkpoint.seq,
        "head": found.head,
        "leaf": None if values is None else leaf_hash(values).hex(),
        "leaf_columns": len(LEAF_COLUMNS),
    }


async def call_receipt(
    port: LedgerProofPort, keys: SigningKeys, debit: Row, issued_at: int
) -> str | None:
    """The signed receipt of a debit; None when no signing key is set."""
    claims = receipt_claims(debit, issued_at)
    claims["checkpoint"] = await sealed_in(port, debit)
    return keys.sign_jws(claims, RECEIPT_TYP)


def settled_claims(
    account_id: str, key_id: str, request_id: str, settlement: Settlement, settled_ms: int
) -> dict[str, Any]:
    """What the answer's own receipt (`x-meterway-receipt`) states: the settlement the call
    was debited, as its ledger row will hold it, before that row exists. So it has no entry
    id and no checkpoint, and its time is the gateway's at settling (the ledger's is Redis's,
    milliseconds apart); the receipt fetched by request id later carries both."""
    u = settlement.usage
    usage: dict[str, Any] = {
        "input_tokens": u.input_tokens,
        "cached_input_tokens": u.cached_input_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "output_tokens": u.output_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    }
    if settlement.detail:
        usage["detail"] = audience.for_customer(dict(settlement.detail))
    return {
        "iat": settled_ms // 1000,
        "sub": account_id,
        "rid": request_id,
        "time": settled_ms,
        "model": settlement.model,
        "key_id": key_id or None,
        "usage": usage,
        "usage_source": u.source,
        "price_version": settlement.price_version or None,
        "cost_micros": settlement.cost_micros,
    }
