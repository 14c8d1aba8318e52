"""Opening and closing the store clients: the one way serve, CLI commands and tests do it.

The client settings (timeouts, pool sizes, the lean RESP connection for the hot path) are
chosen here once, so a command-line `rebuild` and a test talk to Redis exactly as the
serving gateway does. With `REDIS_CLUSTER_URLS` both become cluster clients: redis-py's
`RedisCluster` for everything but the scripts, and `ClusterWire` (the lean client with slot
routing) for the hot path's scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from billing.money.plans import PlanBook
from gateway.config.settings import Settings
from gateway.stores.ports.repair import BalanceRepairPort, HotRestorePort
from gateway.stores.postgres.contracts.books import Books
from gateway.stores.postgres.contracts.byok import ByokKeys
from gateway.stores.postgres.contracts.commitments import Commitments
from gateway.stores.postgres.contracts.invoices import Invoices
from gateway.stores.postgres.contracts.statements import Statements
from gateway.stores.postgres.directory import Directory
from gateway.stores.postgres.form_tokens import FormTokens
from gateway.stores.postgres.keys.teams import Teams
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.postgres.members.domain_claims import DomainClaims
from gateway.stores.postgres.members.people import Members
from gateway.stores.postgres.members.scim import Scim
from gateway.stores.postgres.metering.idempotency import Idempotency
from gateway.stores.postgres.metering.metered import MeteringLedger
from gateway.stores.postgres.money.end_user_budgets import EndUserBudgets
from gateway.stores.postgres.money.grants import Grants
from gateway.stores.postgres.money.local_provider import LocalProviderStore
from gateway.stores.postgres.money.payments import PaymentsStore
from gateway.stores.postgres.money.pending import PendingDebits
from gateway.stores.postgres.notify import NotifyLedger
from gateway.stores.postgres.operator import OperatorLedger
from gateway.stores.postgres.partitions import LedgerPartitions
from gateway.stores.postgres.pricing.config_cards import ConfigCards
from gateway.stores.postgres.pricing.plan_markups import PlanMarkups
from gateway.stores.postgres.pricing.price_versions import PriceVersions
from gateway.stores.postgres.proof.audit import AuditLog
from gateway.stores.postgres.proof.ledger_proof import LedgerProof
from gateway.stores.postgres.proof.price_changes import PriceChanges
from gateway.stores.postgres.proof.provider_reconciliation import ProviderReconciliation
from gateway.stores.postgres.proof.receipt_header import ReceiptHeaders
from gateway.stores.postgres.trust.account_alerts import AccountAlerts
from gateway.stores.postgres.trust.anomalies import Anomalies
from gateway.stores.postgres.trust.signups import Signups
from gateway.stores.postgres.usage.analytics_copy import AnalyticsCopy
from gateway.stores.postgres.usage.exports import ExportLedger
from gateway.stores.postgres.usage.focus import FocusReads
from gateway.stores.redis.holds.meters import CLOSED_TTL_MS
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.owned import OwnedFiles, OwnedResponses
from gateway.stores.redis.repair.balances import BalanceRepair
from gateway.stores.redis.repair.grant_write_off import GrantWriteOffs
from gateway.stores.redis.repair.restore import HotRestore
from gateway.stores.redis.repair.window_rebuild import rebuild_windows
from gateway.stores.redis.settlement_stream import RedisSettlementStream
from gateway.stores.redis.sign_in.revocations import Revocations
from gateway.stores.redis.sign_in.sessions import Sessions, SigninTickets
from gateway.stores.redis.wire.checked_connection import CheckedConnection
from gateway.stores.redis.wire.cluster import ClusterWire
from gateway.stores.redis.wire.read_once_more import ReadOnceMoreRedis
from gateway.stores.redis.wire.resp import (
    Endpoint,
    ScriptWire,
    WireRedis,
    parse_url,
)

REDIS_MAX_CONNECTIONS = 512
POOL_MAX_SIZE = 8
POOL_CLOSE_S = 10.0  # then connections still held are terminated (close_pool)
log = logging.getLogger("meterway.stores")


@dataclass(frozen=True, slots=True)
class Stores:
    """Both stores, opened together, and the one place every other adapter is built from
    their clients: nothing outside gateway/stores/ holds a raw Redis client or pool
    (tests/unit/test_boundaries.py checks it). `redis` and `pool` are for the tests."""

    store: HotStore
    ledger: Ledger

    @property
    def redis(self) -> aioredis.Redis:
        return self.store.redis

    @property
    def pool(self) -> asyncpg.Pool:
        return self.ledger.pool

    def hot_restore(self) -> HotRestorePort:
        """Writing Redis from the ledger (rebuild, the self-restore)."""
        return HotRestore(self.store)

    def balance_repair(self) -> BalanceRepairPort:
        """Balances read under a fence and corrected by a fenced delta (reconcile)."""
        return BalanceRepair(self.store)

    async def rebuild_windows(self, plans: PlanBook, *, only_missing: bool = False) -> int:
        """The current quota windows' counters recounted from the ledger."""
        return await rebuild_windows(self.store, self.pool, plans, only_missing=only_missing)

    async def restore_closed(self) -> int:
        """The closed markers of metered ids still inside their time to live, from the ledger."""
        markers = await self.operator().closed_markers(CLOSED_TTL_MS)
        return await self.hot_restore().put_closed(markers)

    def operator(self) -> OperatorLedger:
        """What rebuild, reconcile, the self-restore and migrate read in PostgreSQL."""
        return OperatorLedger(self.pool)

    def directory(self) -> Directory:
        return Directory(self.pool)

    def price_versions(self) -> PriceVersions:
        """The rate cards debits name, and the reads that explain a debit."""
        return PriceVersions(self.pool)

    def price_changes(self) -> PriceChanges:
        """Price changes under review or approved, and the usage their previews re-price."""
        return PriceChanges(self.pool)

    def books(self) -> Books:
        """A plan's accounts and the usage a book change's preview re-prices."""
        return Books(self.pool)

    def config_cards(self) -> ConfigCards:
        """The cards each start's configuration bills: the approved one, and the change a
        start files for another (PRICE_CHANGES_AT_START=review)."""
        return ConfigCards(self.pool)

    def plan_markups(self) -> PlanMarkups:
        """Plans' approved markups and the reviewed changes of them (migration 105)."""
        return PlanMarkups(self.pool)

    def partitions(self) -> LedgerPartitions:
        """The ledger's monthly partitions: created ahead, archived by the operator."""
        return LedgerPartitions(self.pool)

    def metering_ledger(self) -> MeteringLedger:
        return MeteringLedger(self.pool)

    def exports(self) -> ExportLedger:
        return ExportLedger(self.pool)

    def notify_ledger(self) -> NotifyLedger:
        return NotifyLedger(self.pool)

    def anomalies(self) -> Anomalies:
        return Anomalies(self.pool)

    def account_alerts(self) -> AccountAlerts:
        return AccountAlerts(self.pool)

    def payments_store(self) -> PaymentsStore:
        return PaymentsStore(self.pool)

    def local_provider_store(self) -> LocalProviderStore:
        return LocalProviderStore(self.pool)

    def owned_responses(self) -> OwnedResponses:
        return OwnedResponses(self.redis, self.store.keys)

    def owned_batches(self) -> OwnedResponses:
        return OwnedResponses(self.redis, self.store.keys, batches=True)

    def owned_files(self) -> OwnedFiles:
        return OwnedFiles(self.redis, self.store.keys)

    def revocations(self, ttl_s: int) -> Revocations:
        return Revocations(self.redis, self.store.keys, ttl_s)

    def sessions(self) -> Sessions:
        return Sessions(self.redis, self.store.keys)

    def signin_tickets(self) -> SigninTickets:
        return SigninTickets(self.redis, self.store.keys)

    def members(self) -> Members:
        return Members(self.pool)

    def signups(self) -> Signups:
        return Signups(self.pool)

    def end_user_budgets(self) -> EndUserBudgets:
        return EndUserBudgets(self.pool)

    def teams(self) -> Teams:
        return Teams(self.pool)

    def domain_claims(self) -> DomainClaims:
        return DomainClaims(self.pool)

    def scim(self) -> Scim:
        return Scim(self.pool)

    def grants(self) -> Grants:
        """Credit grants in PostgreSQL: their allocation and the operator's reads."""
        return Grants(self.pool)

    def idempotency(self) -> Idempotency:
        """What each idempotency key was first used for (services/metering/idempotency.py)."""
        return Idempotency(self.pool)

    def form_tokens(self) -> FormTokens:
        """The dashboard money forms' single-use tokens (dashboard/form_tokens.py)."""
        return FormTokens(self.pool)

    def audit_log(self) -> AuditLog:
        """The append-only audit log (services/audit.py writes it)."""
        return AuditLog(self.pool)

    def statements(self) -> Statements:
        """Months of an account's ledger, for its statements."""
        return Statements(self.pool)

    def invoices(self) -> Invoices:
        """Invoices and credit notes, and the customers' invoicing details."""
        return Invoices(self.pool)

    def ledger_proof(self) -> LedgerProof:
        return LedgerProof(self.pool)

    def commitments(self) -> Commitments:
        """Accounts' commitments and their periods."""
        return Commitments(self.pool)

    def byok(self) -> ByokKeys:
        """Customers' own provider keys (ciphertext), their versions and the platform fee."""
        return ByokKeys(self.pool)

    def receipt_headers(self) -> ReceiptHeaders:
        """Which accounts asked for each call's receipt on its answer."""
        return ReceiptHeaders(self.pool)

    def analytics_copy(self) -> AnalyticsCopy:
        """How far the ledger is copied to the analytics store, and the rows to copy."""
        return AnalyticsCopy(self.pool)

    def provider_reconciliation(self) -> ProviderReconciliation:
        """The ledger's sums of an upstream credential's day, and the differences found
        against the provider's reports."""
        return ProviderReconciliation(self.pool)

    def focus(self) -> FocusReads:
        """Months of the ledger entry by entry, for FOCUS exports."""
        return FocusReads(self.pool)

    def grant_write_offs(self) -> GrantWriteOffs:
        """Writing off an ended grant's rest from the hot balance."""
        return GrantWriteOffs(self.store)

    def settlement_stream(self, consumer: str | None = None) -> RedisSettlementStream:
        """The settler's queue; `consumer` names this settler in the group (default
        host-pid, see `default_consumer`)."""
        return RedisSettlementStream(self.store.redis, self.store.keys, consumer)

    @property
    def pending(self) -> PendingDebits:
        """Debits a stopping gateway could not settle in Redis (see
        services/money/settlement.py)."""
        return PendingDebits(self.ledger.pool)


def cluster_seeds(settings: Settings) -> list[Endpoint]:
    seeds = [parse_url(url) for url in settings.redis_cluster]
    return [e for e in seeds if e is not None]  # settings.py admits only redis:// seeds


def redis_clients(settings: Settings) -> tuple[aioredis.Redis, ScriptWire | None]:
    """redis-py for everything, and the lean script client where the URL allows one, both
    with the same connect and reply timeouts (resp.py says why a connect may take 3 s).

    On a cluster, redis-py's `RedisCluster` is typed as `aioredis.Redis`: it offers the same
    commands, routes each by its key's slot, splits multi-key EXISTS/DELETE per slot, runs
    non-transactional pipelines per node and SCAN per master. The one read that differs,
    the settler's multi-stream XREADGROUP, checks `is_cluster` (stores/redis/wire/nodes.py).
    A single Redis's read-only command whose connection turned out lost goes once more
    (wire/read_once_more.py).
    """
    if settings.redis_cluster:
        seeds = cluster_seeds(settings)
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(e.host, e.port) for e in seeds],
            username=seeds[0].username,
            password=seeds[0].password,
            max_connections=REDIS_MAX_CONNECTIONS,
            socket_connect_timeout=settings.redis_connect_timeout_s,
            socket_timeout=settings.redis_reply_timeout_s,
        )
        timeouts = _timeouts(settings)
        return cast(aioredis.Redis, cluster), ClusterWire(seeds, **timeouts)
    endpoint = parse_url(settings.redis_url)
    # TLS and unix-socket URLs keep the connection class redis-py picks for them.
    plain: dict[str, Any] = {"connection_class": CheckedConnection} if endpoint else {}
    client = ReadOnceMoreRedis.from_url(
        settings.redis_url,
        max_connections=REDIS_MAX_CONNECTIONS,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_timeout=settings.redis_reply_timeout_s,
        **plain,
    )
    return client, WireRedis(endpoint, **_timeouts(settings)) if endpoint is not None else None


def _timeouts(settings: Settings) -> dict[str, float]:
    """REDIS_CONNECT_TIMEOUT_S and REDIS_REPLY_TIMEOUT_S, as the lean clients take them."""
    return {
        "timeout_s": settings.redis_reply_timeout_s,
        "connect_timeout_s": settings.redis_connect_timeout_s,
    }


@contextlib.asynccontextmanager
async def open_hot_store(settings: Settings) -> AsyncIterator[HotStore]:
    client, wire = redis_clients(settings)
    try:
        yield HotStore.for_settings(client, settings, wire)
    finally:
        if wire is not None:
            await wire.close()
        await client.aclose()


@contextlib.asynccontextmanager
async def open_ledger(settings: Settings) -> AsyncIterator[Ledger]:
    # Silence either way is bounded by POSTGRES_COMMAND_TIMEOUT_S. A statement (or the reset
    # after it) unanswered past it fails and its connection is closed: a PostgreSQL gone
    # silent cannot hold a worker for good. And the server ends a session left idle inside a
    # transaction past it: a gateway killed, or cut off, mid-transaction cannot hold its
    # row locks (an account's, which every later settlement of it waits on) for good.
    timeout_s = settings.postgres_command_timeout_s
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=POOL_MAX_SIZE,
        command_timeout=timeout_s,
        server_settings={"idle_in_transaction_session_timeout": str(int(timeout_s * 1000))},
    )
    try:
        yield Ledger(pool)
    finally:
        await close_pool(pool)


async def close_pool(pool: asyncpg.Pool, timeout_s: float = POOL_CLOSE_S) -> None:
    """Close gracefully, but not forever: asyncpg's close waits for every connection to be
    released, and one a cancelled task still held would keep a shutdown waiting for good.
    Past `timeout_s` the pool terminates what is left (a held advisory lock goes with it)."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        log.warning("PostgreSQL connections still held after %.0f s: terminated", timeout_s)


@contextlib.asynccontextmanager
async def open_stores(settings: Settings) -> AsyncIterator[Stores]:
    async with open_hot_store(settings) as store, open_ledger(settings) as ledger:
        yield Stores(store, ledger)
