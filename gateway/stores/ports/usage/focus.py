"""What a FOCUS export reads of the ledger (stores/postgres/usage/focus.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Protocol


class FocusPort(Protocol):
    """A month of the ledger entry by entry, and the rate cards its debits name."""

    def entries(
        self, account_id: str | None, start: datetime, end: datetime
    ) -> AsyncIterator[list[Any]]:
        """Pages of the month's entries (one account's, or every account's with None),
        oldest first; raises ArchiveGone for a month whose archive table was dropped."""
        ...

    async def cards(self, versions: set[str]) -> Mapping[str, Mapping[str, Any]]:
        """The registered rate cards of these price versions."""
        ...
