"""`x-meterway-receipt`: each call's signed receipt on its own answer, for the accounts that
asked (`PUT /v1/account/billing/receipt-header`).

Which accounts asked is read whole from PostgreSQL by every process on a clock
(RECEIPT_HEADER_REFRESH_S) and at once by the process that changed it, so the proxy looks
it up in memory: no Redis round trip and no PostgreSQL wait on a call's path. A process
that has not read it yet gives no receipt header (never a wrong one): the receipt by request
id (`GET /v1/account/requests/{id}/receipt`) is there either way.
"""

from __future__ import annotations

import time

from gateway.services.proof.call_receipts import RECEIPT_TYP, settled_claims
from gateway.services.proof.signing_keys import SigningKeys
from gateway.stores.ports.proof.ledger_proof import ReceiptHeaderPort
from gateway.stores.records import Settlement

RECEIPT_HEADER = "x-meterway-receipt"
RECEIPT_HEADER_REFRESH_S = 5.0  # the longest an opt-in or opt-out takes to reach a process


class ReceiptHeaders:
    def __init__(self, port: ReceiptHeaderPort, keys: SigningKeys) -> None:
        self._port = port
        self._keys = keys
        self._accounts: frozenset[str] = frozenset()

    def wanted(self, account_id: str) -> bool:
        """Whether this account's answers carry a receipt (only when receipts are signed)."""
        return account_id in self._accounts

    async def refresh(self) -> None:
        """Read again which accounts asked; none while no signing key is set."""
        self._accounts = await self._port.opted_in() if self._keys.signs else frozenset()

    async def set(self, account_id: str, enabled: bool) -> bool:
        """Record an account's choice, in effect in this process at once; False when there
        is no such account."""
        if not await self._port.set_receipt_header(account_id, enabled):
            return False
        if self._keys.signs:
            changed = {account_id}
            self._accounts = self._accounts | changed if enabled else self._accounts - changed
        return True

    def sign(
        self, account_id: str, key_id: str, request_id: str, settlement: Settlement
    ) -> str | None:
        """The compact JWS of a settled call (call_receipts.settled_claims)."""
        claims = settled_claims(account_id, key_id, request_id, settlement, int(time.time() * 1000))
        return self._keys.sign_jws(claims, RECEIPT_TYP)
