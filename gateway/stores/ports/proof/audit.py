"""The port of the audit log (stores/postgres/proof/audit.py): appended to, never changed."""

from __future__ import annotations

from typing import Protocol

from gateway.stores.audit_records import AuditQuery, AuditRecord
from gateway.stores.records import Row


class AuditLogPort(Protocol):
    """The append-only audit log (migration 051; the database refuses UPDATE, DELETE and
    TRUNCATE)."""

    async def append(self, record: AuditRecord) -> int:
        """Append one record; its id."""
        ...

    async def page(self, query: AuditQuery) -> list[Row]:
        """Records matching `query`, newest first, at most `query.limit`, ids below
        `query.before_id` when set (the next page)."""
        ...

    async def names(self, ids: list[str]) -> dict[str, str]:
        """What people call each of `ids` that is an account (its name), a member (its
        e-mail), a key or a team (their names), a payment with a receipt number ("R-1042"); an id
        of nothing is left out."""
        ...
