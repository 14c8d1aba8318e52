"""The ports: what the rest of Meterway may ask of its stores, and what each call promises.

Services, handlers and workers depend on these Protocols, never on a Redis or asyncpg
client; `stores/redis/hotstore.py` and `stores/postgres/ledger.py` implement them, and unit
tests hand in fakes. Every method raises only store errors (`stores/errors.py`).
"""

from __future__ import annotations

from gateway.stores.ports.contracts.invoices import InvoicesPort
from gateway.stores.ports.directory import (
    DirectoryPort,
    DomainClaimsPort,
    MembersPort,
    RevocationsPort,
    SessionsPort,
    SigninTicketsPort,
)
from gateway.stores.ports.form_tokens import FormTokensPort
from gateway.stores.ports.hot import (
    HotStorePort,
    KeyDirectory,
    Reservations,
    SweptStorePort,
)
from gateway.stores.ports.ledger import (
    AccountAlertsPort,
    ExportLedgerPort,
    LedgerPort,
    MeteringLedgerPort,
    NotifyLedgerPort,
    NotifyOutbox,
    PendingDebitsPort,
)
from gateway.stores.ports.metering.idempotency import IdempotencyPort
from gateway.stores.ports.metering.metered import (
    FileOwners,
    MeterDecision,
    MeterHoldsPort,
    ResponseOwners,
)
from gateway.stores.ports.money.budgets import EndUserBudgetsPort, TeamsPort
from gateway.stores.ports.money.grants import GrantsPort, GrantWriteOffPort, StatementsPort
from gateway.stores.ports.money.out import MoneyOutPort
from gateway.stores.ports.money.payments import (
    LedgerMoney,
    PaymentsStorePort,
    Profile,
    RefundClaim,
    RefundClaimsPort,
)
from gateway.stores.ports.money.settlement import SettlementLedger, SettlementStream
from gateway.stores.ports.proof.audit import AuditLogPort
from gateway.stores.ports.trust.signups import SignupsPort
from gateway.stores.ports.usage.focus import FocusPort

__all__ = [
    "AccountAlertsPort",
    "AuditLogPort",
    "DirectoryPort",
    "DomainClaimsPort",
    "EndUserBudgetsPort",
    "ExportLedgerPort",
    "FileOwners",
    "FocusPort",
    "FormTokensPort",
    "GrantWriteOffPort",
    "GrantsPort",
    "HotStorePort",
    "IdempotencyPort",
    "InvoicesPort",
    "KeyDirectory",
    "LedgerMoney",
    "LedgerPort",
    "MembersPort",
    "MeterDecision",
    "MeterHoldsPort",
    "MeteringLedgerPort",
    "MoneyOutPort",
    "NotifyLedgerPort",
    "NotifyOutbox",
    "PaymentsStorePort",
    "PendingDebitsPort",
    "Profile",
    "RefundClaim",
    "RefundClaimsPort",
    "Reservations",
    "ResponseOwners",
    "RevocationsPort",
    "SessionsPort",
    "SettlementLedger",
    "SettlementStream",
    "SigninTicketsPort",
    "SignupsPort",
    "StatementsPort",
    "SweptStorePort",
    "TeamsPort",
]
