"""The ports: what the rest of Meterway may ask of its stores, and what each call promises.

Services, handlers and workers depend on these Protocols, never on a Redis or asyncpg
client; `stores/redis/hotstore.py` and `stores/postgres/ledger.py` implement them, and unit
tests hand in fakes. Every method raises only store errors (`stores/errors.py`).
"""

from __future__ import annotations

from gateway.stores.ports.audit import AuditLogPort
from gateway.stores.ports.budgets import EndUserBudgetsPort, TeamsPort
from gateway.stores.ports.directory import (
    DirectoryPort,
    MembersPort,
    RevocationsPort,
    SessionsPort,
    SigninTicketsPort,
)
from gateway.stores.ports.form_tokens import FormTokensPort
from gateway.stores.ports.grants import GrantsPort, GrantWriteOffPort, StatementsPort
from gateway.stores.ports.hot import (
    HotStorePort,
    KeyDirectory,
    Reservations,
)
from gateway.stores.ports.idempotency import IdempotencyPort
from gateway.stores.ports.ledger import (
    AccountAlertsPort,
    ExportLedgerPort,
    LedgerPort,
    MeteringLedgerPort,
    NotifyLedgerPort,
    NotifyOutbox,
)
from gateway.stores.ports.metering import (
    FileOwners,
    MeterDecision,
    MeterHoldsPort,
    ResponseOwners,
)
from gateway.stores.ports.settlement import SettlementLedger, SettlementStream

__all__ = [
    "AccountAlertsPort",
    "AuditLogPort",
    "DirectoryPort",
    "EndUserBudgetsPort",
    "ExportLedgerPort",
    "FileOwners",
    "FormTokensPort",
    "GrantWriteOffPort",
    "GrantsPort",
    "HotStorePort",
    "IdempotencyPort",
    "KeyDirectory",
    "LedgerPort",
    "MembersPort",
    "MeterDecision",
    "MeterHoldsPort",
    "MeteringLedgerPort",
    "NotifyLedgerPort",
    "NotifyOutbox",
    "Reservations",
    "ResponseOwners",
    "RevocationsPort",
    "SessionsPort",
    "SettlementLedger",
    "SettlementStream",
    "SigninTicketsPort",
    "StatementsPort",
    "TeamsPort",
]
