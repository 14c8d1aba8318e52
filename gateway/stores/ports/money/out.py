"""The port of money an operator takes out: held first, in one atomic step with the
decision against what the account has free, then applied as its ledger entry or given back.

What each call promises is in its docstring; every method raises only store errors
(`stores/errors.py`).
"""

from __future__ import annotations

from typing import Protocol

from gateway.stores.records import MoneyOutHold


class MoneyOutPort(Protocol):
    async def take(self, hold: MoneyOutHold) -> int:
        """Hold the amount if the balance less what is held (reservations, other holds,
        ended grants) has it, down to 0 whatever the credit line; what is free after. Raises
        BalanceTooLow, holding nothing. Taken again under the same id, it replaces itself."""
        ...

    async def give_back(self, account_id: str, hold_id: str) -> int:
        """Drop a hold whose money did not leave; the micros it held (0: none). Called only
        where its entry is known not to be written (under the lock that writes it)."""
        ...

    async def held(self, shard: int, hold_id: str) -> MoneyOutHold | None:
        """The open hold under the id, or None."""
        ...

    async def postpone(self, shard: int, hold_id: str) -> None:
        """Look at a hold again later: whether its money left is not known yet."""
        ...

    async def set_line(self, account_id: str, micros: int) -> int:
        """Set the credit line (0: none) in one atomic step with the check that the account
        is not already below the floor it makes; the line before. Raises LineTooLow."""
        ...
