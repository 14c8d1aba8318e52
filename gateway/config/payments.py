"""The payment settings (PAYMENTS_PROVIDER, Stripe's key and webhook secrets, top-up bounds,
grace, return URLs' origins, the seller on receipts), read with the rest by
`gateway.config.settings.load_settings`. Moved out of settings.py, unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from billing.money.receipts import Seller, parse_address
from gateway.config import values as v
from gateway.config.return_urls import NotAnOrigin, parse_origin
from gateway.config.values import PLACEHOLDERS, ConfigError


@dataclass(frozen=True)
class PaymentSettings:
    provider: str = "none"  # stripe | local | none (nothing can be paid for)
    stripe_api_key: str = field(default="", repr=False)
    stripe_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    stripe_api_base: str | None = None
    grace_days: int = 7
    topup_min_micros: int = 1_000_000
    topup_max_micros: int = 1_000_000_000
    # Origins a caller's own return_url may be on, besides PUBLIC_URL's (RETURN_URL_ORIGINS).
    return_url_origins: tuple[str, ...] = ()
    seller: Seller = field(default_factory=Seller)  # on receipts: SELLER_NAME, _ADDRESS, _TAX_ID


def payment_settings(get: Callable[..., object]) -> PaymentSettings:
    """PAYMENTS_PROVIDER defaults to stripe when a Stripe key and webhook secret are set, else
    to none (a key alone may be there only for usage exports): the local provider, which
    pays without money, runs only when named."""
    key = str(get("STRIPE_API_KEY", ""))
    secrets = tuple(
        s.strip() for s in str(get("STRIPE_WEBHOOK_SECRET", "")).split(",") if s.strip()
    )
    provider = str(get("PAYMENTS_PROVIDER", "") or ("stripe" if key and secrets else "none"))
    if provider not in ("stripe", "local", "none"):
        raise ConfigError(f"PAYMENTS_PROVIDER must be stripe, local or none, got {provider!r}")
    if provider == "stripe" and (key.strip().lower() in PLACEHOLDERS or not secrets):
        raise ConfigError("PAYMENTS_PROVIDER=stripe needs STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET")
    if len(secrets) > 2:
        raise ConfigError("STRIPE_WEBHOOK_SECRET takes at most two secrets (new,old)")
    base = get("STRIPE_API_BASE", None)
    low = v.micros("TOPUP_MIN_MICROS", get("TOPUP_MIN_MICROS", 1_000_000), 10_000)
    high = v.micros("TOPUP_MAX_MICROS", get("TOPUP_MAX_MICROS", 1_000_000_000), low)
    return PaymentSettings(
        provider=provider,
        stripe_api_key=key,
        stripe_webhook_secrets=secrets,
        stripe_api_base=v.url("STRIPE_API_BASE", str(base), ("http", "https")) if base else None,
        grace_days=v.whole("PAYMENT_GRACE_DAYS", get("PAYMENT_GRACE_DAYS", 7), 0),
        topup_min_micros=low,
        topup_max_micros=high,
        return_url_origins=_origins(str(get("RETURN_URL_ORIGINS", "") or "")),
        seller=Seller(
            str(get("SELLER_NAME", "") or "").strip(),
            parse_address(str(get("SELLER_ADDRESS", "") or "")),
            str(get("SELLER_TAX_ID", "") or "").strip(),
        ),
    )


def _origins(raw: str) -> tuple[str, ...]:
    """RETURN_URL_ORIGINS: comma-separated scheme://host[:port], each checked here."""
    try:
        return tuple(parse_origin(o) for o in raw.split(",") if o.strip())
    except NotAnOrigin as exc:
        raise ConfigError(f"RETURN_URL_ORIGINS: {exc}") from exc
