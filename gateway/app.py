"""The composition root: create_app(settings) builds every client and background task.

Kept whole: the composition root wires every room in one place; each room's own wiring lives
in that room.

Serve, the CLI commands and the tests all open their stores through `stores.connect`
(`open_stores`); a test may hand `create_app` another opener, and `Meter`, `KeyResolver`
and the workers take their stores as parameters, so each can be given a fake.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from functools import partial

import aiohttp
from aiohttp import web

from billing.metering.token_cache import CountCache
from billing.metering.tokens import TokenCounter
from billing.money.next_step import Links
from billing.money.plans import PlanBook, load_plans
from billing.pricing import load_pricing
from billing.pricing.meters import load_meters
from gateway.background import analytics, background, outbound_session
from gateway.config.providers import pricing_terms
from gateway.config.secrets import declared_secrets
from gateway.config.settings import PROVIDERS, Settings
from gateway.http.account import routes as account
from gateway.http.account import user_auth
from gateway.http.admin import routes as admin
from gateway.http.appkeys import (
    ACCOUNT_ALERTS,
    AUDIT,
    AUTO_TOPUPS,
    BATCH_BOOK,
    BUDGETS,
    BYOK,
    CALL_METRICS,
    COUNTER,
    COURIER,
    DASHBOARD_SESSIONS,
    DIRECTORY,
    DOMAIN_CLAIMS,
    EXPORTS,
    FOCUS,
    FORM_TOKENS,
    GRANTS,
    IDEMPOTENCY,
    INVOICES,
    JWT,
    KEYS,
    LEDGER,
    LOCAL_PROVIDER,
    MEMBERS,
    METER,
    METER_BOOK,
    METERING,
    METERING_LEDGER,
    NETWORK_SIGHTINGS,
    NOTIFY,
    OIDC,
    PAYMENTS,
    PLANS,
    PRICE_DESK,
    PRICING,
    PROXYING,
    RECEIPT_HEADERS,
    RESPONSE_BOOK,
    REVOCATIONS,
    SAML,
    SCIM,
    SERVICES,
    SESSION,
    SETTINGS,
    SETTLE_JOURNAL,
    SETTLEMENT,
    SIGNIN_TICKETS,
    SIGNING_KEYS,
    SIGNUPS,
    STATEMENTS,
    STORE,
    STORES,
    TEAMS,
    TRACER,
    UPSTREAM,
    UPSTREAMS,
    Proxying,
)
from gateway.http.billing import local_pay, webhooks
from gateway.http.billing import routes as billing
from gateway.http.dashboard import routes as dashboard
from gateway.http.dashboard.people.signin import callback_url
from gateway.http.mcp import routes as mcp_routes
from gateway.http.metering import routes as metering
from gateway.http.middleware import GatewayMiddleware
from gateway.http.observability.call_metrics import CallMetrics
from gateway.http.observability.tracer import Tracer
from gateway.http.openapi import document as openapi
from gateway.http.ops import api_docs, health, metrics, signing_keys
from gateway.http.proxy import batches, lookups, realtime, responses
from gateway.http.proxy import routes as proxy
from gateway.http.routing import check_declared
from gateway.http.scim import routes as scim_routes
from gateway.llm.deployments import Upstreams
from gateway.llm.http1 import Pool
from gateway.llm.upstream import HttpUpstream, no_handshake_redirects
from gateway.logs import install_log_redaction
from gateway.ops.self_restore import ensure_restored
from gateway.outbound.sign_in.jwks import JwksCache
from gateway.outbound.sign_in.jwks_source import JwksSource
from gateway.outbound.sign_in.jwt_auth import JwtVerifier
from gateway.outbound.sign_in.oidc_client import OidcClient
from gateway.outbound.sign_in.saml_signin import SamlSignin
from gateway.payments.factory import make_payments, make_provider
from gateway.payments.local import LocalProvider
from gateway.services.auth import KeyResolver
from gateway.services.contracts.byok import ByokKeys
from gateway.services.courier import Courier
from gateway.services.keys.service import ServiceResolver
from gateway.services.metering.batches import BatchBook
from gateway.services.metering.responses import ResponseBook
from gateway.services.money.auto_topup import AutoTopups
from gateway.services.money.limits import TeamNames
from gateway.services.money.lost_debits import LostDebits
from gateway.services.money.meter.metered import Metering
from gateway.services.money.meter.metering import Meter
from gateway.services.money.next_steps import refusal_state
from gateway.services.money.settlement import Settlements
from gateway.services.proof.price_changes import PriceDesk
from gateway.services.proof.prices_at_start import (
    CardsAsJson,
    review_at_start,
    review_plans_at_start,
)
from gateway.services.proof.receipt_header import ReceiptHeaders
from gateway.services.proof.signing_keys import SigningKeys
from gateway.services.registry import TaskRegistry
from gateway.services.trust.network_sightings import NetworkSightings
from gateway.stores.connect import Stores, open_stores
from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.stores.journal import SettleJournal

StoresOpener = Callable[[Settings], AbstractAsyncContextManager[Stores]]


def links_of(settings: Settings) -> Links:
    """Where next steps point: BILLING_URL for paying, else the dashboard on PUBLIC_URL."""
    return Links(settings.billing_url, settings.public_url)


def _observe(app: web.Application) -> None:
    """The meter's observers, when traces or OTLP metrics are on: the span takes the
    settlement as its debit starts (a batch's, its billed lines first), the metrics once it
    is taken; both learn of a part left uncollected."""
    meter, told = app[METER], []
    if TRACER in app:
        meter.on_settled = app[TRACER].settled
        app[BATCH_BOOK].on_lines = app[TRACER].batch_lines
        meter.settlements.on_answered = app[TRACER].answered
        told.append(app[TRACER].uncollected)
    if CALL_METRICS in app:
        meter.on_charged = app[CALL_METRICS].charged
        told.append(app[CALL_METRICS].uncollected)
    if len(told) == 1:
        meter.settlements.on_uncollected = told[0]
    elif told:
        tell_span, tell_metrics = told

        def uncollected(request_id: str, micros: int) -> None:
            tell_span(request_id, micros)
            tell_metrics(request_id, micros)

        meter.settlements.on_uncollected = uncollected


def _stores_ctx(opener: StoresOpener) -> Callable[[web.Application], AsyncIterator[None]]:
    async def stores(app: web.Application) -> AsyncIterator[None]:
        async with opener(app[SETTINGS]) as opened:
            app[STORES] = opened
            app[STORE] = opened.store
            app[LEDGER] = opened.ledger
            app[KEYS] = KeyResolver(opened.store)
            journal = app[SETTLE_JOURNAL] = _journal(app[SETTINGS], opened)
            app[METER] = _meter(app[SETTINGS], app[PLANS], opened, journal)
            app[RESPONSE_BOOK] = ResponseBook(
                opened.owned_responses(),
                opened.store,
                app[METER],
                app[PRICING],
                app[COUNTER],
                opened.directory(),
            )
            app[BATCH_BOOK] = BatchBook(
                opened.owned_files(),
                opened.owned_batches(),
                opened.store,
                app[METER],
                app[PRICING],
                opened.directory(),
            )
            app[RECEIPT_HEADERS] = ReceiptHeaders(opened.receipt_headers(), app[SIGNING_KEYS])
            app[NETWORK_SIGHTINGS] = NetworkSightings(opened.anomalies())
            app[BYOK] = await _own_keys(app[SETTINGS], opened)
            _observe(app)
            _metering(app, opened)
            yield
            await app[METER].drain(app[SETTINGS].drain_timeout_s)
            await journal.close()

    return stores


async def _own_keys(settings: Settings, stores: Stores) -> ByokKeys:
    """The accounts' own provider keys, read once before serving (a ledger that cannot be
    read now leaves them to the clock: a call of an account with one is refused as loading
    until then, by the version its admission reads)."""
    byok = ByokKeys(
        stores.byok(), stores.store, settings.byok_encryption_key, settings.byok_notify_window_s
    )
    try:
        await byok.refresh()
    except StoreError as exc:
        logging.getLogger("meterway.byok").warning("own provider keys not read: %s", exc)
    return byok


def _journal(settings: Settings, stores: Stores) -> SettleJournal:
    """The settlement journal, a directory per key prefix: a replay settles into the Redis
    keys its settlements were meant for, never another deployment's sharing the disk."""
    return SettleJournal(settings.settle_journal_dir / settings.redis_prefix, stores.store)


def _meter(settings: Settings, plans: PlanBook, stores: Stores, journal: SettleJournal) -> Meter:
    """Metering needs both stores: Redis to settle, PostgreSQL to keep what Redis refused,
    and the journal for what Redis did not take in time."""
    settlements = Settlements(
        stores.store,
        TaskRegistry(),
        refresh_s=settings.hold_refresh_s,
        spool=stores.pending.put,
        rebook=LostDebits(stores.store, stores.pending),
        journal=journal,
    )
    return Meter(stores.store, plans, links_of(settings), settlements)


async def _self_restore(app: web.Application) -> AsyncIterator[None]:
    """Before serving: a Redis without ready markers is restored from the ledger, once
    across every gateway starting together (ops/self_restore.py)."""
    settings = app[SETTINGS]
    if settings.self_restore:
        try:
            await ensure_restored(app[STORES], app[PLANS], settings, "start")
        except StoreUnavailable as exc:  # serve anyway (failing closed); the restorer retries
            logging.getLogger("meterway.restore").warning("restore at start: %s", exc)
    yield


async def _price_versions(app: web.Application) -> AsyncIterator[None]:
    """Register the rate cards debits will name, once at start (never per request), bill
    the approved card and plan markups where the configuration moved them
    (PRICE_CHANGES_AT_START=review, services/proof/prices_at_start.py; before the restore writes
    hot records), and install the approved price changes before serving. A
    ledger that cannot take them now does not stop the gateway (the loaded card bills):
    debits carry their version anyway, the next start registers the cards (the same
    versions: a version hashes its card), and the price desk's clock installs the changes
    (services/proof/price_changes.py)."""
    settings, stores = app[SETTINGS], app[STORES]
    added = pricing_terms(settings.providers)[0]
    app[PRICE_DESK] = desk = PriceDesk(
        app[PRICING],
        app[PLANS],
        frozenset(PROVIDERS) | frozenset(added),
        settings.price_review,
        stores.price_changes(),
        stores.price_versions(),
        stores.store,
        stores.plan_markups(),
        settings.price_review.at_start == "review",
        books=stores.books(),
    )
    try:
        await stores.price_versions().register(CardsAsJson(app[PRICING].cards()))
        if settings.price_review.at_start == "review":
            await review_at_start(desk, stores.config_cards())
            await review_plans_at_start(desk, stores.plan_markups())
        await desk.install()
    except StoreError as exc:
        logging.getLogger("meterway.pricing").warning(
            "rate cards not registered, prices at start not reviewed (the loaded card bills): %s",
            exc,
        )
    yield


async def _user_auth(app: web.Application) -> AsyncIterator[None]:
    """Revocations always (the admin API writes them), dashboard sessions; the JWT verifier
    when configured."""
    jwt, stores = app[SETTINGS].jwt, app[STORES]
    app[DIRECTORY] = stores.directory()
    revocations = stores.revocations(jwt.max_lifetime_s + jwt.leeway_s)
    app[REVOCATIONS] = revocations
    app[DASHBOARD_SESSIONS] = stores.sessions()
    app[SIGNIN_TICKETS] = stores.signin_tickets()
    app[MEMBERS] = stores.members()
    app[SIGNUPS] = stores.signups()
    courier = app[COURIER] = Courier()
    app[GRANTS] = stores.grants()
    app[STATEMENTS] = stores.statements()
    app[INVOICES] = stores.invoices()
    app[FOCUS] = stores.focus()
    app[BUDGETS] = stores.end_user_budgets()
    app[TEAMS] = stores.teams()
    app[DOMAIN_CLAIMS] = stores.domain_claims()
    app[SCIM] = stores.scim()
    app[IDEMPOTENCY] = stores.idempotency()
    app[FORM_TOKENS] = stores.form_tokens()
    app[AUDIT] = stores.audit_log()
    settings = app[SETTINGS]
    oidc = None
    if settings.signin.oidc:
        redirect = callback_url(settings.public_url)
        oidc = app[OIDC] = OidcClient(
            settings.signin, redirect, revocations, settings.outbound.egress
        )
    if settings.saml.enabled:
        app[SAML] = SamlSignin(settings.saml, settings.public_url, settings.outbound.egress)
    source = JwksSource(jwt.jwks_url, settings.outbound.egress) if jwt.jwks_url else None
    if jwt.enabled:
        jwks = JwksCache(source) if source is not None else None
        app[JWT] = JwtVerifier(jwt, jwks, revocations)
        if jwks is not None:
            await jwks.refresh()  # a down identity provider does not stop the boot
    yield
    await courier.drain(5.0)
    if source is not None:
        await source.close()
    if oidc is not None:
        await oidc.close()


def _metering(app: web.Application, opened: Stores) -> None:
    """The metering API's services, on the same stores as the proxy."""
    app[METERING_LEDGER] = opened.metering_ledger()
    app[EXPORTS] = opened.exports()
    app[SETTLEMENT] = opened.settlement_stream()
    app[NOTIFY] = opened.notify_ledger()
    app[ACCOUNT_ALERTS] = opened.account_alerts()
    app[SERVICES] = ServiceResolver(opened.store.meters)
    app[METERING] = Metering(
        opened.store.meters, opened.store, app[METER_BOOK], app[PLANS], links_of(app[SETTINGS])
    )


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    timeout = aiohttp.ClientTimeout(
        total=settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s
    )
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    session = aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        auto_decompress=False,
        middlewares=(no_handshake_redirects,),
    )
    pool = Pool(
        connect_timeout_s=settings.upstream_connect_timeout_s,
        total_timeout_s=settings.upstream_timeout_s,
    )
    app[SESSION] = session
    app[UPSTREAM] = HttpUpstream(
        session,
        pool,
        settings.providers,
        forward_test_headers=settings.test_clock,
        first_byte_timeout_s=settings.upstream_first_byte_timeout_s,
    )
    yield
    await pool.close()
    await session.close()


async def _payments(app: web.Application) -> AsyncIterator[None]:
    """The payment provider, the use cases, auto top-up after settlements, the billing clock."""
    settings, plans, stores = app[SETTINGS], app[PLANS], app[STORES]
    provider = make_provider(settings, stores, plans)
    if isinstance(provider, LocalProvider):
        app[LOCAL_PROVIDER] = provider
    payments = make_payments(settings, provider, stores, plans)
    app[PAYMENTS] = payments
    app[AUTO_TOPUPS] = AutoTopups(payments)
    app[METER].settlements.on_low_balance = app[AUTO_TOPUPS].after_settle
    stores.store.leases.on_low_balance = app[AUTO_TOPUPS].after_settle  # leased calls too
    stores.store.leases.on_lost = app[METER].settlements.resettle
    app[METER].in_grace = stores.store.in_grace
    app[METER].team_names = TeamNames(app[TEAMS]).get
    app[METER].refusal_facts = partial(refusal_state, stores.store)
    yield
    await app[AUTO_TOPUPS].drain()
    await provider.close()


async def _proxying(app: web.Application) -> None:
    """After every cleanup context opened (aiohttp runs them first at start-up)."""
    app[PROXYING] = Proxying(
        app[SETTINGS],
        app[PRICING],
        app[COUNTER],
        app[KEYS],
        app[METER],
        app[UPSTREAM],
        app[UPSTREAMS],
        traced=app[SETTINGS].traces.enabled,
        receipts=app[RECEIPT_HEADERS],
        sightings=app[NETWORK_SIGHTINGS],
        byok=app[BYOK],
    )


async def _begin_stop(app: web.Application) -> None:
    """Runs when the server stops listening, before open requests are waited for."""
    if METER in app:
        app[METER].begin_stop(app[SETTINGS].drain_timeout_s)


def create_app(
    settings: Settings,
    counter: TokenCounter | None = None,
    *,
    stores: StoresOpener = open_stores,
) -> web.Application:
    install_log_redaction(declared_secrets(settings))  # before anything logs: no secret in a line
    tracer = Tracer(settings.traces) if settings.traces.enabled else None
    calls = CallMetrics(settings.metrics) if settings.metrics.enabled else None
    app = web.Application(
        middlewares=[GatewayMiddleware(tracer, calls)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    if tracer is not None:  # off: no signal, no hook, no task (the hot path pays nothing)
        app[TRACER] = tracer
    if calls is not None:
        app[CALL_METRICS] = calls
    app[PRICING] = replace(
        load_pricing(settings.pricing_path, PROVIDERS, *pricing_terms(settings.providers)),
        default_output_tokens=settings.default_max_output_tokens,
    )
    deployed = (d.upstream for d in app[PRICING].deployments())
    app[UPSTREAMS] = Upstreams(deployed, settings.upstream_cooldown_s)
    app[PLANS] = load_plans(settings.plans_path)
    app[METER_BOOK] = load_meters(settings.meters_path)
    app[COUNTER] = counter or TokenCounter(CountCache(settings.token_count_cache_chars))
    app[COUNTER].preload()
    app[SIGNING_KEYS] = SigningKeys(settings.proof)
    app.cleanup_ctx.extend(
        [
            _stores_ctx(stores),
            _price_versions,
            _self_restore,
            _user_auth,
            _upstream,
            outbound_session,
            analytics,
            _payments,
            background,
        ]
    )
    app.on_startup.append(_proxying)
    app.on_shutdown.append(_begin_stop)
    proxy.add_routes(app)
    realtime.add_routes(app)
    responses.add_routes(app)
    batches.add_routes(app)
    lookups.add_routes(app)
    admin.add_routes(app)
    billing.add_routes(app)  # before any /v1/account sub-app: its longer prefix must win
    webhooks.add_routes(app)
    local_pay.add_routes(app)
    health.add_routes(app)
    signing_keys.add_routes(app)
    metrics.add_routes(app)
    account.add_routes(app)
    user_auth.add_routes(app)
    openapi.add_routes(app)
    api_docs.add_routes(app)
    metering.add_routes(app)
    mcp_routes.add_routes(app)
    scim_routes.add_routes(app)
    dashboard.add_routes(app)
    check_declared(app)
    openapi.publish(app)
    return app
