"""Settings, read once at start-up into a frozen object.

Kept whole: every setting is read and checked in one place, once; its parts (payments,
providers, sign-up, traces...) are modules of their own.

Environment variables win over the optional TOML file given with --config; every value is
cast and validated here so a bad setting fails the boot with one clear line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from billing.money.tax import InvalidTaxTable, TaxTable, read_table
from billing.roles import ROLES
from gateway.config import values as v
from gateway.config.analytics import AnalyticsSettings, analytics_settings
from gateway.config.domains import DomainSettings, domain_settings
from gateway.config.egress_rules import EgressPolicy, EgressRefused, check_url, parse_allow
from gateway.config.invoicing import invoice_tax_source, vies_url
from gateway.config.mcp import McpServer, read_mcp
from gateway.config.outbound import OutboundSettings
from gateway.config.payments import PaymentSettings, payment_settings
from gateway.config.price_review import PriceReview, price_review
from gateway.config.proof import ProofSettings, proof_settings
from gateway.config.providers import PROVIDERS as PROVIDERS
from gateway.config.providers import ProviderSettings as ProviderSettings
from gateway.config.providers import read_providers
from gateway.config.proxies import ProxySettings, proxy_settings
from gateway.config.reconcile import ReconcileSettings, reconcile_settings
from gateway.config.saml import SamlSettings, saml_settings
from gateway.config.signup import SignupSettings, check_trial_card, signup_settings
from gateway.config.traces import MetricSettings, TraceSettings, metric_settings, trace_settings
from gateway.config.values import PLACEHOLDERS, ConfigError

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"  # the checkout's config/


def config_dir(env: Mapping[str, str]) -> Path:
    """Where pricing.toml, plans.toml and meters.toml are, for commands that read no more."""
    return Path(env.get("MW_CONFIG_DIR", str(DEFAULT_CONFIG_DIR)))


JWT_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"})


@dataclass(frozen=True)
class JwtSettings:
    """User sign-in: HS* tokens verify with `secret` only, RS*/ES* with the JWKS keys only."""

    secret: str = field(default="", repr=False)
    jwks_url: str = ""
    audience: str = ""
    issuer: str = ""
    algorithms: tuple[str, ...] = ()
    leeway_s: int = 30
    account_claim: str = "account_id"
    max_lifetime_s: int = 86400
    role_claim: str = ""  # JWT_ROLE_CLAIM: the claim whose values name a member's role
    team_claim: str = ""  # JWT_TEAM_CLAIM: the claim whose values name a member's team

    @property
    def enabled(self) -> bool:
        return bool(self.algorithms)


@dataclass(frozen=True)
class SigninSettings:
    """How people sign in to the dashboard besides a key or token: OpenID Connect
    (authorization code + PKCE) and links sent by e-mail."""

    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    oidc_scopes: str = "openid email"
    oidc_name: str = "single sign-on"
    email_links: bool = False
    email_from: str = ""
    smtp_url: str = ""
    # e-mailed links asked for per address and per client address in a window (0: no limit)
    link_limit_address: int = 5
    link_limit_client: int = 20
    link_limit_window_s: int = 900
    invite_limit_account: int = 20  # invitations one organization sends per window

    @property
    def oidc(self) -> bool:
        return bool(self.oidc_issuer)


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)
    redis_url: str = field(repr=False)  # may carry a password, like database_url
    listen_host: str
    listen_port: int
    admin_api_key: str = field(repr=False)
    providers: Mapping[str, ProviderSettings]
    config_dir: Path
    redis_prefix: str = "mw"
    # Seed nodes of a Redis Cluster (redis://host:port each); empty = one Redis at redis_url.
    redis_cluster: tuple[str, ...] = field(default=(), repr=False)
    # Faults on the wire (docs/concepts/durability.md): where a settlement Redis did not take
    # in time is journaled (a directory per REDIS_PREFIX inside), how long a connect to Redis
    # and a reply owed by it may take, and how long each of /readyz's checks may.
    settle_journal_dir: Path = Path("data/journal")
    redis_connect_timeout_s: float = 5.0
    redis_reply_timeout_s: float = 5.0
    postgres_command_timeout_s: float = 300.0
    readyz_check_timeout_s: float = 2.0
    max_body_bytes: int = 4 * 1024 * 1024
    max_upload_bytes: int = 64 * 1024 * 1024  # a multipart upload, spooled to disk
    upstream_connect_timeout_s: float = 10.0
    upstream_timeout_s: float = 600.0
    # How long a deployment's upstream rests after a 429, 5xx or failed connection that
    # named no retry-after (UPSTREAM_COOLDOWN_S).
    upstream_cooldown_s: float = 10.0
    reservation_ttl_s: float = 660.0
    timezone: str = "UTC"
    settler_enabled: bool = True
    settler_batch: int = 2000
    settler_lanes: int = 2  # transactions a settler writes at once, one per shard group
    settler_name: str | None = None  # the settler's consumer name; default host-pid
    # How settle.lua queues a settlement: "packed" (one JSON row) or "named" (a stream field
    # per value, as versions before the packed row did): for a rolling upgrade from one of
    # those, whose settlers cannot read a packed row (stream_fields.py).
    settlement_messages: str = "packed"
    # A busy key's plain calls are admitted under leases (stores/redis/leases/process.py): one
    # append per call in Redis instead of two scripts. Off by default while it is new.
    leases: bool = False
    self_restore: bool = True  # serve restores a Redis without ready markers from the ledger
    show_provider_cost: bool = False  # customers see markup, provider cost and margin
    migrate_on_start: bool = False  # serve applies pending migrations first (MIGRATE=1)
    test_clock: bool = False
    billing_url: str = ""  # an operator's own billing page; empty = the built-in routes
    workers: int = 1
    jwt: JwtSettings = field(default_factory=JwtSettings)
    # SCIM_GROUP_ROLES: a directory's group names and the role their members hold
    # ("Meterway Admins=admin,Finance=billing"); a group not named is a team only.
    scim_group_roles: Mapping[str, str] = field(default_factory=dict)
    key_rotation_grace_s: int = 86400
    client_body_timeout_s: float = 30.0
    client_idle_timeout_s: float = 15.0
    max_connections: int = 4096
    # The reverse proxies whose forwarding header names the client (TRUSTED_PROXIES,
    # TRUSTED_PROXY_HEADER: gateway/config/proxies.py); none by default.
    proxies: ProxySettings = field(default_factory=ProxySettings)
    upstream_first_byte_timeout_s: float = 600.0
    upstream_idle_timeout_s: float = 300.0
    stream_drain_timeout_s: float = 60.0
    max_upstream_body_bytes: int = 64 * 1024 * 1024
    max_sse_event_bytes: int = 8 * 1024 * 1024
    realtime_max_frame_bytes: int = 16 * 1024 * 1024  # one WebSocket frame, either way
    realtime_sessions_per_key: int = 10  # open Realtime sessions, per gateway process
    realtime_sessions_per_account: int = 50
    realtime_idle_timeout_s: float = 120.0  # no frame either way: the session is closed
    realtime_secret_ttl_s: int = 600  # a client secret's default life (at most 7200 s)
    token_count_cache_chars: int = (
        8_000_000  # billing.metering.token_cache.CountCache; 0 keeps nothing
    )
    end_users_max: int = 100_000  # end users with live budget windows per account
    admin_listen: tuple[str, int] | None = None
    hold_refresh_s: float = 30.0
    price_review: PriceReview = field(default_factory=lambda: PriceReview())
    sweep_interval_s: float = 5.0  # how often expired reservations are looked for and voided
    anomaly_every_s: float = 15.0  # how often the spend anomaly detector runs its round
    response_poll_interval_s: float = 1.0  # how often background responses due a look are read
    drain_timeout_s: float = 30.0
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    payments: PaymentSettings = field(default_factory=lambda: PaymentSettings())
    public_url: str = ""  # the gateway's address as people and providers reach it
    signin: SigninSettings = field(default_factory=SigninSettings)
    signup: SignupSettings = field(default_factory=SignupSettings)
    # What an anthropic-beta the gateway does not list gets (ANTHROPIC_UNKNOWN_BETAS):
    # "pass", billed from the usage Anthropic reports, or "refuse" by name.
    anthropic_unknown_betas: str = "pass"
    # The output cap reserved, and sent to the provider, for a call that names none to a
    # model whose cap no source gives (DEFAULT_MAX_OUTPUT_TOKENS).
    default_max_output_tokens: int = 32768
    # The MCP servers whose tool calls are metered (`[mcp.NAME]` tables: gateway/config/mcp.py).
    mcp: Mapping[str, McpServer] = field(default_factory=dict)
    # OpenTelemetry traces (OTEL_* and TRACE_*: gateway/config/traces.py); off by default.
    traces: TraceSettings = field(default_factory=TraceSettings)
    # OpenTelemetry metrics over OTLP (OTEL_METRICS_EXPORTER, OTEL_METRIC_EXPORT_INTERVAL);
    # off by default, like traces. Prometheus's /metrics is there either way.
    metrics: MetricSettings = field(default_factory=MetricSettings)
    # The analytics store (CLICKHOUSE_*: gateway/config/analytics.py); off by default.
    analytics: AnalyticsSettings = field(default_factory=AnalyticsSettings)
    # The ledger's checkpoints and their signing keys (LEDGER_*: gateway/config/proof.py).
    proof: ProofSettings = field(default_factory=ProofSettings)
    # Reconciliation against the providers' own reports (RECONCILE_*: config/reconcile.py).
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    # SAML 2.0 sign-in (SAML_*: gateway/config/saml.py); off by default.
    saml: SamlSettings = field(default_factory=SamlSettings)
    # Domain claims' DNS proofs (DOMAIN_*: gateway/config/domains.py).
    domains: DomainSettings = field(default_factory=DomainSettings)
    # Invoices (docs/guides/invoices.md): the tax rates of config/tax.toml, and the series
    # whose numbers invoices and credit notes take (INVOICE_SERIES).
    tax: TaxTable = field(default_factory=TaxTable)
    invoice_series: str = "INV"
    invoice_days_due: int = 30  # days a sent invoice gives the customer to pay (Stripe's due date)
    fx_rates_url: str = ""  # the ECB-format reference rates an invoice reads when given none
    vies_url: str = ""  # VIES's REST interface, asked when a customer's VAT number is set
    # Who names an invoice's tax rate (INVOICE_TAX): `table` (tax.toml) or `stripe` (Stripe
    # Tax, for the product's INVOICE_TAX_CODE).
    invoice_tax: str = "table"
    invoice_tax_code: str = "txcd_10000000"
    # Bring your own key (docs/guides/byok.md): the AES-256-GCM key customers' provider keys
    # are stored under (BYOK_ENCRYPTION_KEY, base64 of 32 bytes; empty: storing one is
    # refused), how often each process reads them again, and the least time between two
    # `byok.rejected` notices of one key.
    byok_encryption_key: bytes = field(default=b"", repr=False)
    byok_refresh_s: float = 5.0
    byok_notify_window_s: int = 3600

    @property
    def pricing_path(self) -> Path:
        return self.config_dir / "pricing.toml"

    @property
    def plans_path(self) -> Path:
        return self.config_dir / "plans.toml"

    @property
    def meters_path(self) -> Path:
        return self.config_dir / "meters.toml"


def load_settings(env: Mapping[str, str] | None = None, config: Path | None = None) -> Settings:
    """Build Settings from the environment (and an optional TOML file); raise ConfigError."""
    env = os.environ if env is None else env
    doc = v.read_toml(config)
    gw = doc.get("gateway", {})
    providers_cfg = doc.get("providers", {})
    if not isinstance(gw, dict) or not isinstance(providers_cfg, dict):
        raise ConfigError("[gateway] and [providers] must be tables")

    def get(name: str, default: object = None) -> object:
        return env.get(name.upper(), gw.get(name.lower(), default))

    admin = str(get("ADMIN_API_KEY", ""))
    if admin.strip().lower() in PLACEHOLDERS or len(admin) < 16:
        raise ConfigError("ADMIN_API_KEY must be set to a secret of at least 16 characters")
    host, port = v.listen(str(get("LISTEN_ADDR", "0.0.0.0:8080")))
    timeout = v.number("UPSTREAM_TIMEOUT_S", get("UPSTREAM_TIMEOUT_S", 3600), 1)
    config_dir = Path(str(get("MW_CONFIG_DIR", DEFAULT_CONFIG_DIR)))
    if not (config_dir / "pricing.toml").is_file():
        raise ConfigError(f"MW_CONFIG_DIR {config_dir} has no pricing.toml")
    payments, signin = payment_settings(get), _signin(get)
    check_trial_card(signin["signup"], payments.provider)
    try:
        tax = read_table(config_dir / "tax.toml")
    except InvalidTaxTable as exc:
        raise ConfigError(f"tax.toml: {exc}") from exc
    series = str(get("INVOICE_SERIES", "INV"))
    if not series.isalnum() or len(series) > 12:
        raise ConfigError("INVOICE_SERIES must be 1 to 12 letters or digits")
    invoice_tax, tax_code = invoice_tax_source(get, payments.provider)
    traces = trace_settings(get)
    if payments.provider == "stripe" and not signin["public_url"]:
        raise ConfigError(
            "PAYMENTS_PROVIDER=stripe needs PUBLIC_URL: Stripe sends people back to absolute"
            " addresses on it"
        )
    if v.flag(get("LEASES", "0")) and str(get("SETTLEMENT_MESSAGES", "packed")) == "named":
        raise ConfigError("LEASES=1 needs SETTLEMENT_MESSAGES=packed: a lease appends packed rows")
    return Settings(
        database_url=v.url(
            "DATABASE_URL", str(get("DATABASE_URL", "")), ("postgres", "postgresql")
        ),
        **v.redis_location(get),
        listen_host=host,
        listen_port=port,
        admin_api_key=admin,
        providers=_traced(read_providers(env, providers_cfg), traces.forward_to),
        mcp=read_mcp(env, doc.get("mcp", {})),
        config_dir=config_dir,
        redis_prefix=str(get("REDIS_PREFIX", "mw")),
        settle_journal_dir=Path(str(get("SETTLE_JOURNAL_DIR", "data/journal"))),
        redis_connect_timeout_s=v.number(
            "REDIS_CONNECT_TIMEOUT_S", get("REDIS_CONNECT_TIMEOUT_S", 5), 0.05
        ),
        redis_reply_timeout_s=v.number(
            "REDIS_REPLY_TIMEOUT_S", get("REDIS_REPLY_TIMEOUT_S", 5), 0.05
        ),
        postgres_command_timeout_s=v.number(
            "POSTGRES_COMMAND_TIMEOUT_S", get("POSTGRES_COMMAND_TIMEOUT_S", 300), 0.05
        ),
        readyz_check_timeout_s=v.number(
            "READYZ_CHECK_TIMEOUT_S", get("READYZ_CHECK_TIMEOUT_S", 2), 0.05
        ),
        max_body_bytes=v.whole("MAX_BODY_BYTES", get("MAX_BODY_BYTES", 4 * 1024 * 1024), 1024),
        max_upload_bytes=v.whole(
            "MAX_UPLOAD_BYTES", get("MAX_UPLOAD_BYTES", 64 * 1024 * 1024), 1024
        ),
        upstream_connect_timeout_s=v.number(
            "UPSTREAM_CONNECT_TIMEOUT_S", get("UPSTREAM_CONNECT_TIMEOUT_S", 10), 0.1
        ),
        upstream_timeout_s=timeout,
        upstream_cooldown_s=v.number("UPSTREAM_COOLDOWN_S", get("UPSTREAM_COOLDOWN_S", 10), 0),
        reservation_ttl_s=timeout + 60,
        timezone=v.zone(str(get("QUOTA_TIMEZONE", "UTC"))),
        settler_enabled=not v.flag(get("SETTLER_DISABLED", "0")),
        settler_name=str(get("SETTLER_NAME", "")) or None,
        settler_lanes=v.whole("SETTLER_LANES", get("SETTLER_LANES", 2), 1),
        settlement_messages=v.one_of("SETTLEMENT_MESSAGES", get, "packed", ("packed", "named")),
        leases=v.flag(get("LEASES", "0")),
        self_restore=v.flag(get("SELF_RESTORE", "1")),
        show_provider_cost=v.flag(get("SHOW_PROVIDER_COST", "0")),
        migrate_on_start=v.flag(get("MIGRATE", "0")),
        test_clock=v.flag(get("MW_TEST_CLOCK", "0")),
        billing_url=str(get("BILLING_URL", "")),
        workers=v.whole("WORKERS", get("WORKERS", 1), 1),
        jwt=_jwt(get),
        scim_group_roles=_group_roles(str(get("SCIM_GROUP_ROLES", "") or "")),
        outbound=_outbound(get),
        key_rotation_grace_s=v.whole("KEY_ROTATION_GRACE_S", get("KEY_ROTATION_GRACE_S", 86400), 0),
        proxies=proxy_settings(get),
        **_hostile_limits(get),
        hold_refresh_s=v.number("HOLD_REFRESH_S", get("HOLD_REFRESH_S", 30), 0.05),
        price_review=price_review(get),
        sweep_interval_s=v.number("SWEEP_INTERVAL_S", get("SWEEP_INTERVAL_S", 5), 0.05),
        anomaly_every_s=v.number("ANOMALY_EVERY_S", get("ANOMALY_EVERY_S", 15), 0.05),
        response_poll_interval_s=v.number(
            "RESPONSE_POLL_INTERVAL_S", get("RESPONSE_POLL_INTERVAL_S", 1), 0.05
        ),
        drain_timeout_s=v.number("DRAIN_TIMEOUT_S", get("DRAIN_TIMEOUT_S", 30), 0),
        payments=payments,
        tax=tax,
        invoice_series=series,
        invoice_tax=invoice_tax,
        invoice_tax_code=tax_code,
        invoice_days_due=v.whole("INVOICE_DAYS_DUE", get("INVOICE_DAYS_DUE", 30), 1),
        fx_rates_url=_fx_url(str(get("FX_RATES_URL", "") or ""), _egress(get)),
        vies_url=vies_url(get),
        anthropic_unknown_betas=v.one_of(
            "ANTHROPIC_UNKNOWN_BETAS", get, "pass", ("pass", "refuse")
        ),
        default_max_output_tokens=v.whole(
            "DEFAULT_MAX_OUTPUT_TOKENS", get("DEFAULT_MAX_OUTPUT_TOKENS", 32768), 1
        ),
        traces=traces,
        metrics=metric_settings(get),
        analytics=analytics_settings(get),
        proof=proof_settings(get),
        reconcile=reconcile_settings(get),
        saml=saml_settings(get, signin["public_url"]),
        domains=domain_settings(get),
        byok_encryption_key=_byok_key(str(get("BYOK_ENCRYPTION_KEY", "") or "")),
        byok_refresh_s=v.number("BYOK_REFRESH_S", get("BYOK_REFRESH_S", 5), 0.05),
        byok_notify_window_s=v.whole("BYOK_NOTIFY_WINDOW_S", get("BYOK_NOTIFY_WINDOW_S", 3600), 1),
        **signin,
    )


def _fx_url(raw: str, egress: EgressPolicy) -> str:
    """FX_RATES_URL: empty (no source), or an http(s) URL the egress rules let it read (its
    addresses are checked again at each read)."""
    if raw and not raw.startswith(("http://", "https://")):
        raise ConfigError("FX_RATES_URL must be an http(s) URL")
    if raw:
        _egress_url("FX_RATES_URL", raw, egress)
    return raw


def _byok_key(text: str) -> bytes:
    """BYOK_ENCRYPTION_KEY as its 32 bytes (empty when unset), or the boot fails naming it."""
    if not text:
        return b""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("BYOK_ENCRYPTION_KEY must be base64 of 32 random bytes") from exc
    if len(key) != 32:
        raise ConfigError("BYOK_ENCRYPTION_KEY must be base64 of 32 random bytes")
    return key


def _traced(
    providers: dict[str, ProviderSettings], names: frozenset[str]
) -> dict[str, ProviderSettings]:
    """TRACE_FORWARD_PROVIDERS: the providers sent the gateway's traceparent, by name."""
    unknown = sorted(names - set(providers))
    if unknown:
        raise ConfigError(f"TRACE_FORWARD_PROVIDERS: no provider named {unknown[0]!r}")
    return {n: replace(p, forward_trace=True) if n in names else p for n, p in providers.items()}


def _link_limits(get: Callable[..., object]) -> dict[str, int]:
    """How often the e-mailed-link form may be used: per address (a victim's inbox) and per
    client address (one sender trying many addresses), in one window."""
    return {
        "link_limit_address": v.whole(
            "SIGNIN_LINK_LIMIT_ADDRESS", get("SIGNIN_LINK_LIMIT_ADDRESS", 5), 0
        ),
        "link_limit_client": v.whole(
            "SIGNIN_LINK_LIMIT_CLIENT", get("SIGNIN_LINK_LIMIT_CLIENT", 20), 0
        ),
        "link_limit_window_s": v.whole(
            "SIGNIN_LINK_LIMIT_WINDOW_S", get("SIGNIN_LINK_LIMIT_WINDOW_S", 900), 1
        ),
        "invite_limit_account": v.whole(
            "SIGNIN_INVITE_LIMIT_ACCOUNT", get("SIGNIN_INVITE_LIMIT_ACCOUNT", 20), 0
        ),
    }


def _signin(get: Callable[..., object]) -> dict[str, Any]:
    """PUBLIC_URL and the people's sign-ins that hand it out: an OIDC redirect URI and
    e-mailed links must name the gateway as the world reaches it, never a request's Host."""
    public = str(get("PUBLIC_URL", "") or "").rstrip("/")
    if public:
        v.url("PUBLIC_URL", public, ("http", "https"))
    issuer = str(get("OIDC_ISSUER", "") or "").rstrip("/")
    client = str(get("OIDC_CLIENT_ID", "") or "")
    if issuer:
        v.url("OIDC_ISSUER", issuer, ("http", "https"))
        if not client or not public:
            raise ConfigError("OIDC_ISSUER needs OIDC_CLIENT_ID and PUBLIC_URL")
    links = v.flag(get("SIGNIN_EMAIL_LINKS", "0"))
    smtp, sender = str(get("SMTP_URL", "") or ""), str(get("NOTIFY_EMAIL_FROM", "") or "")
    if links and not (smtp and sender and public):
        raise ConfigError("SIGNIN_EMAIL_LINKS needs SMTP_URL, NOTIFY_EMAIL_FROM and PUBLIC_URL")
    signin = SigninSettings(
        oidc_issuer=issuer,
        oidc_client_id=client,
        oidc_client_secret=str(get("OIDC_CLIENT_SECRET", "") or ""),
        oidc_scopes=str(get("OIDC_SCOPES", "openid email")),
        oidc_name=str(get("OIDC_DISPLAY_NAME", "single sign-on")),
        email_links=links,
        email_from=sender,
        smtp_url=smtp,
        **_link_limits(get),
    )
    signup = signup_settings(get, public, smtp, sender)
    return {"public_url": public, "signin": signin, "signup": signup}


def _jwt_algorithms(raw: str, secret: str, jwks_url: str) -> tuple[str, ...]:
    default = (["HS256"] if secret else []) + (["RS256", "ES256"] if jwks_url else [])
    algs = tuple(a.strip() for a in raw.split(",") if a.strip()) if raw else tuple(default)
    bad = [a for a in algs if a not in JWT_ALGORITHMS]
    if bad:
        raise ConfigError(f"JWT_ALGORITHMS: {bad[0]!r} is not allowed (never 'none')")
    if any(a.startswith("HS") for a in algs) and len(secret) < 32:
        raise ConfigError("JWT_SECRET must be at least 32 characters for HS* algorithms")
    if any(not a.startswith("HS") for a in algs) and not jwks_url:
        raise ConfigError("JWT_JWKS_URL is required for RS*/ES* algorithms")
    return algs


def _group_roles(raw: str) -> dict[str, str]:
    """`Group name=role,...`: each role one of billing/roles.py's."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, role = item.rpartition("=")
        if not sep or not name.strip() or role.strip() not in ROLES:
            raise ConfigError(
                f"SCIM_GROUP_ROLES: {item.strip()!r} is not 'group name=role'"
                f" with a role of {list(ROLES)}"
            )
        out[name.strip()] = role.strip()
    return out


def _jwt(get: Callable[[str, object], object]) -> JwtSettings:
    secret, jwks = str(get("JWT_SECRET", "")), str(get("JWT_JWKS_URL", ""))
    if jwks:
        v.url("JWT_JWKS_URL", jwks, ("http", "https"))
    algs = _jwt_algorithms(str(get("JWT_ALGORITHMS", "")), secret, jwks)
    if algs and not (get("JWT_AUDIENCE", "") and get("JWT_ISSUER", "")):
        raise ConfigError("JWT_AUDIENCE and JWT_ISSUER must be set when JWT sign-in is on")
    return JwtSettings(
        secret=secret,
        jwks_url=jwks,
        audience=str(get("JWT_AUDIENCE", "")),
        issuer=str(get("JWT_ISSUER", "")),
        algorithms=algs,
        leeway_s=v.whole("JWT_LEEWAY_S", get("JWT_LEEWAY_S", 30), 0),
        account_claim=str(get("JWT_ACCOUNT_CLAIM", "account_id")),
        max_lifetime_s=v.whole("JWT_MAX_LIFETIME_S", get("JWT_MAX_LIFETIME_S", 86400), 60),
        role_claim=str(get("JWT_ROLE_CLAIM", "") or ""),
        team_claim=str(get("JWT_TEAM_CLAIM", "") or ""),
    )


def _hostile_limits(get: Callable[..., object]) -> dict[str, Any]:
    """Bounds on what a client or provider can make the gateway wait for or hold."""

    def num(name: str, default: float, minimum: float) -> float:
        return v.number(name, get(name, default), minimum)

    def count(name: str, default: int, minimum: int) -> int:
        return v.whole(name, get(name, default), minimum)

    admin = str(get("ADMIN_LISTEN_ADDR", "") or "")
    return {
        "client_body_timeout_s": num("CLIENT_BODY_TIMEOUT_S", 30, 0.1),
        "client_idle_timeout_s": num("CLIENT_IDLE_TIMEOUT_S", 15, 0.1),
        "max_connections": count("MAX_CONNECTIONS", 4096, 1),
        "upstream_first_byte_timeout_s": num("UPSTREAM_FIRST_BYTE_TIMEOUT_S", 600, 0.1),
        "upstream_idle_timeout_s": num("UPSTREAM_IDLE_TIMEOUT_S", 300, 0.1),
        "stream_drain_timeout_s": num("STREAM_DRAIN_TIMEOUT_S", 60, 0),
        "max_upstream_body_bytes": count("MAX_UPSTREAM_BODY_BYTES", 64 * 1024 * 1024, 1024),
        "max_sse_event_bytes": count("MAX_SSE_EVENT_BYTES", 8 * 1024 * 1024, 1024),
        "realtime_max_frame_bytes": count("REALTIME_MAX_FRAME_BYTES", 16 * 1024 * 1024, 1024),
        "realtime_sessions_per_key": count("REALTIME_SESSIONS_PER_KEY", 10, 1),
        "realtime_sessions_per_account": count("REALTIME_SESSIONS_PER_ACCOUNT", 50, 1),
        "realtime_idle_timeout_s": num("REALTIME_IDLE_TIMEOUT_S", 120, 0.1),
        "realtime_secret_ttl_s": count("REALTIME_SECRET_TTL_S", 600, 10),
        "token_count_cache_chars": count("TOKEN_COUNT_CACHE_CHARS", 8_000_000, 0),
        "end_users_max": count("END_USERS_MAX", 100_000, 1),
        "admin_listen": v.listen(admin, "ADMIN_LISTEN_ADDR") if admin else None,
    }


def _outbound(get: Callable[..., object]) -> OutboundSettings:
    """Usage exports (Stripe meter events, Lago) and notifications (webhook, SMTP)."""
    urls = {}
    for name in ("STRIPE_API_BASE", "LAGO_API_URL", "NOTIFY_WEBHOOK_URL"):
        raw = str(get(name, "") or "")
        urls[name] = v.url(name, raw, ("http", "https")) if raw else ""
    egress = _egress(get)
    for name, url in urls.items():
        if url and (name != "STRIPE_API_BASE" or get("STRIPE_METER_EVENT_NAME", "")):
            _egress_url(name, url, egress)
    smtp = str(get("SMTP_URL", "") or "")
    if smtp:
        v.url("SMTP_URL", smtp, ("smtp",))
    secret = str(get("NOTIFY_WEBHOOK_SECRET", "") or "")
    if urls["NOTIFY_WEBHOOK_URL"] and len(secret) < 16:
        raise ConfigError("NOTIFY_WEBHOOK_SECRET (16+ characters) must be set with the webhook URL")
    if bool(get("LAGO_API_URL", "")) != bool(get("LAGO_API_KEY", "")):
        raise ConfigError("LAGO_API_URL and LAGO_API_KEY must be set together")
    return OutboundSettings(
        stripe_meter_event_name=str(get("STRIPE_METER_EVENT_NAME", "") or ""),
        stripe_api_key=str(get("STRIPE_API_KEY", "") or ""),
        stripe_api_base=urls["STRIPE_API_BASE"] or "https://api.stripe.com",
        lago_api_url=urls["LAGO_API_URL"],
        lago_api_key=str(get("LAGO_API_KEY", "") or ""),
        lago_metric_code=str(get("LAGO_METRIC_CODE", "meterway_usage")),
        export_interval_s=v.number("EXPORT_INTERVAL_S", get("EXPORT_INTERVAL_S", 60), 0.05),
        notify_webhook_url=urls["NOTIFY_WEBHOOK_URL"],
        notify_webhook_secret=secret,
        smtp_url=smtp,
        notify_email_from=str(get("NOTIFY_EMAIL_FROM", "") or ""),
        notify_email_to=str(get("NOTIFY_EMAIL_TO", "") or ""),
        notify_interval_s=v.number("NOTIFY_INTERVAL_S", get("NOTIFY_INTERVAL_S", 15), 0.05),
        balance_low_micros=v.micros(
            "NOTIFY_BALANCE_LOW_MICROS", get("NOTIFY_BALANCE_LOW_MICROS", 1_000_000), 0
        ),
        runway_days=v.whole("NOTIFY_RUNWAY_DAYS", get("NOTIFY_RUNWAY_DAYS", 3), 0),
        egress=egress,
    )


def _egress(get: Callable[..., object]) -> EgressPolicy:
    """EGRESS_ALLOW_HOSTS (host names and CIDR networks admitted on purpose, comma-separated)
    and EGRESS_ALLOW_HTTP: what webhooks, alerts and exports may reach besides public https."""
    try:
        hosts, nets = parse_allow(str(get("EGRESS_ALLOW_HOSTS", "") or ""))
    except ValueError as exc:
        raise ConfigError(f"EGRESS_ALLOW_HOSTS: {exc}") from exc
    return EgressPolicy(hosts, nets, v.flag(get("EGRESS_ALLOW_HTTP", "0")))


def _egress_url(name: str, url: str, egress: EgressPolicy) -> None:
    """An operator's export or webhook URL obeys the customers' rules (its addresses are
    checked again at each send)."""
    try:
        check_url(url, egress)
    except EgressRefused as exc:
        raise ConfigError(f"{name}: {url} {exc} (EGRESS_ALLOW_HOSTS admits a host)") from exc


def restore_lock_name(settings: Settings) -> str:
    """The advisory lock a restore of one Redis (URL and key prefix) runs under, and the
    settler's fence reads; the URL is hashed so no password reaches PostgreSQL's logs."""
    where = hashlib.sha256(settings.redis_url.encode()).hexdigest()[:16]
    return f"meterway:restore:{where}:{settings.redis_prefix}"
