"""Typed application state: every shared resource lives on the app under one of these keys."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from billing.metering.tokens import TokenCounter
from billing.money.plans import PlanBook
from billing.pricing import PricingTable
from billing.pricing.meters import MeterBook
from gateway.config.settings import Settings
from gateway.http.observability.call_metrics import CallMetrics
from gateway.http.observability.tracer import Tracer
from gateway.llm.deployments import Upstreams
from gateway.llm.upstream import Upstream
from gateway.outbound.otlp import Exporter
from gateway.outbound.otlp_metrics import MetricExporter
from gateway.outbound.sign_in.jwt_auth import JwtVerifier
from gateway.outbound.sign_in.oidc_client import OidcClient
from gateway.outbound.sign_in.saml_signin import SamlSignin
from gateway.payments.local import LocalProvider
from gateway.services.auth import KeyResolver
from gateway.services.contracts.byok import ByokKeys
from gateway.services.courier import Courier
from gateway.services.keys.service import ServiceResolver
from gateway.services.metering.batches import BatchBook
from gateway.services.metering.responses import ResponseBook
from gateway.services.money.auto_topup import AutoTopups
from gateway.services.money.meter.metered import Metering
from gateway.services.money.meter.metering import Meter
from gateway.services.money.payment.payments import Payments
from gateway.services.proof.price_changes import PriceDesk
from gateway.services.proof.receipt_header import ReceiptHeaders
from gateway.services.proof.signing_keys import SigningKeys
from gateway.services.trust.network_sightings import NetworkSightings
from gateway.services.usage.analytics_freshness import Freshness
from gateway.services.usage.reads import UsageReads
from gateway.stores.connect import Stores
from gateway.stores.journal import SettleJournal
from gateway.stores.ports import (
    AccountAlertsPort,
    AuditLogPort,
    DirectoryPort,
    DomainClaimsPort,
    EndUserBudgetsPort,
    ExportLedgerPort,
    FocusPort,
    FormTokensPort,
    GrantsPort,
    HotStorePort,
    IdempotencyPort,
    InvoicesPort,
    LedgerPort,
    MembersPort,
    MeteringLedgerPort,
    NotifyLedgerPort,
    RevocationsPort,
    SessionsPort,
    SettlementStream,
    SigninTicketsPort,
    SignupsPort,
    StatementsPort,
    TeamsPort,
)
from gateway.stores.ports.scim import ScimPort
from gateway.workers.analytics_copy import Copier
from gateway.workers.reconciler import Reconciler
from gateway.workers.sealer import LedgerSeals
from gateway.workers.supervisor import Supervisor

SETTINGS = web.AppKey("settings", Settings)
PRICING = web.AppKey("pricing", PricingTable)
PRICE_DESK = web.AppKey("price_desk", PriceDesk)  # reviews and installs price changes
PLANS = web.AppKey("plans", PlanBook)
COUNTER = web.AppKey("counter", TokenCounter)
STORE: web.AppKey[HotStorePort] = web.AppKey("store")
# The concrete stores, for the composition root and the background tasks; handlers and
# services see only STORE and LEDGER, typed as ports.
STORES = web.AppKey("stores", Stores)
KEYS = web.AppKey("keys", KeyResolver)
METER = web.AppKey("meter", Meter)
SETTLE_JOURNAL = web.AppKey("settle_journal", SettleJournal)  # stores/journal.py
LEDGER: web.AppKey[LedgerPort] = web.AppKey("ledger")
SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM: web.AppKey[Upstream] = web.AppKey("upstream")
UPSTREAMS = web.AppKey("upstreams", Upstreams)
JWT = web.AppKey("jwt", JwtVerifier)  # absent when JWT sign-in is not configured
REVOCATIONS: web.AppKey[RevocationsPort] = web.AppKey("revocations")
DIRECTORY: web.AppKey[DirectoryPort] = web.AppKey("directory")
RESPONSE_BOOK = web.AppKey("response_book", ResponseBook)
BATCH_BOOK = web.AppKey("batch_book", BatchBook)
METER_BOOK = web.AppKey("meter_book", MeterBook)
METERING = web.AppKey("metering", Metering)
SERVICES = web.AppKey("services", ServiceResolver)
METERING_LEDGER: web.AppKey[MeteringLedgerPort] = web.AppKey("metering_ledger")
PAYMENTS = web.AppKey("payments", Payments)
AUTO_TOPUPS = web.AppKey("auto_topups", AutoTopups)
LOCAL_PROVIDER = web.AppKey("local_provider", LocalProvider)  # only when PAYMENTS_PROVIDER=local

# The background tasks' supervisor (settler, sweeper): its report is part of /readyz.
SUPERVISOR = web.AppKey("supervisor", Supervisor)
# Only when tracing is on (settings.traces.enabled): the span queue and its exporter.
TRACER = web.AppKey("tracer", Tracer)
OTLP_EXPORTER = web.AppKey("otlp_exporter", Exporter)
# Only when OTLP metrics are on (settings.metrics.enabled): the debits' queue and its exporter.
CALL_METRICS = web.AppKey("call_metrics", CallMetrics)
OTLP_METRICS = web.AppKey("otlp_metrics", MetricExporter)
# Only with CLICKHOUSE_URL set: the copy of the ledger to the analytics store.
ANALYTICS_COPIER = web.AppKey("analytics_copier", Copier)
# With it: whether reports may read ClickHouse now, and the copy's true lag.
ANALYTICS_FRESHNESS = web.AppKey("analytics_freshness", Freshness)
SIGNING_KEYS = web.AppKey("signing_keys", SigningKeys)
NETWORK_SIGHTINGS = web.AppKey("network_sightings", NetworkSightings)  # keys' networks, batched
RECEIPT_HEADERS = web.AppKey(
    "receipt_headers", ReceiptHeaders
)  # who asked for x-meterway-receipt  # what /.well-known/meterway-keys.json shows
BYOK = web.AppKey("byok", ByokKeys)  # the accounts' own provider keys, read on a clock
LEDGER_SEALS = web.AppKey("ledger_seals", LedgerSeals)  # the sealer and its scheduled check
# Only with an admin key of a provider set: the reconciliation against its reports.
RECONCILER = web.AppKey("reconciler", Reconciler)
# Where usage reports read (services/usage/reads.py): the rollups, or ClickHouse caught up.
USAGE = web.AppKey("usage", UsageReads)
EXPORTS: web.AppKey[ExportLedgerPort] = web.AppKey("exports")
# the settlement stream, read by the operator's system view for its parked settlements
SETTLEMENT: web.AppKey[SettlementStream] = web.AppKey("settlement")
OUTBOUND_SESSION = web.AppKey("outbound_session", aiohttp.ClientSession)  # exports, webhooks
DASHBOARD_SESSIONS: web.AppKey[SessionsPort] = web.AppKey("dashboard_sessions")
SIGNIN_TICKETS: web.AppKey[SigninTicketsPort] = web.AppKey("signin_tickets")
MEMBERS: web.AppKey[MembersPort] = web.AppKey("members")
SIGNUPS: web.AppKey[SignupsPort] = web.AppKey("signups")
GRANTS: web.AppKey[GrantsPort] = web.AppKey("grants")
STATEMENTS: web.AppKey[StatementsPort] = web.AppKey("statements")
INVOICES: web.AppKey[InvoicesPort] = web.AppKey("invoices")
FOCUS: web.AppKey[FocusPort] = web.AppKey("focus")
BUDGETS: web.AppKey[EndUserBudgetsPort] = web.AppKey("end_user_budgets")
TEAMS: web.AppKey[TeamsPort] = web.AppKey("teams")
SCIM: web.AppKey[ScimPort] = web.AppKey("scim")  # the SCIM directory's users, groups, token
COURIER = web.AppKey("courier", Courier)  # sign-in and invitation e-mails, off the request path
IDEMPOTENCY: web.AppKey[IdempotencyPort] = web.AppKey("idempotency")
FORM_TOKENS: web.AppKey[FormTokensPort] = web.AppKey("form_tokens")
AUDIT: web.AppKey[AuditLogPort] = web.AppKey("audit")
OIDC = web.AppKey("oidc", OidcClient)  # absent when OIDC_ISSUER is not set
DOMAIN_CLAIMS = web.AppKey("domain_claims", DomainClaimsPort)
SAML = web.AppKey("saml", SamlSignin)  # absent when no SAML identity provider is set
NOTIFY: web.AppKey[NotifyLedgerPort] = web.AppKey("notify")  # emit() is the payments port
ACCOUNT_ALERTS: web.AppKey[AccountAlertsPort] = web.AppKey("account_alerts")


@dataclass(frozen=True, slots=True)
class Proxying:
    """What a proxied request reads from the app, in one lookup: `request.app[KEY]` is a
    property and a mapping lookup in Python, and the proxy made eleven of them a request."""

    settings: Settings
    pricing: PricingTable
    counter: TokenCounter
    keys: KeyResolver
    meter: Meter
    upstream: Upstream
    upstreams: Upstreams  # the cool-downs of models' deployments
    traced: bool = False  # tracing is on: a plain answer's finish reasons go on its span
    receipts: ReceiptHeaders | None = None  # which accounts' answers carry their receipt
    sightings: NetworkSightings | None = None  # the networks keys are used from
    byok: ByokKeys | None = None  # the accounts' own provider keys and the platform fee


PROXYING = web.AppKey("proxying", Proxying)
