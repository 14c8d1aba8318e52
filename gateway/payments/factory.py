"""Building the configured provider and the payments use cases for one app or command."""

from __future__ import annotations

import hashlib
from functools import partial

from billing.money.payments import TopupLimits
from billing.money.plans import PlanBook
from gateway.config.settings import Settings
from gateway.payments.local import LocalProvider
from gateway.payments.none import NoProvider
from gateway.services.members.signup import Desk
from gateway.services.money.payment.payments import Payments, PaymentsConfig
from gateway.services.money.payment.port import PaymentsProvider
from gateway.services.trust.trial_gate import card_verified
from gateway.stores.connect import Stores


def local_secret(settings: Settings) -> str:
    """The local provider signs its events with a secret derived from the admin key."""
    return hashlib.sha256(b"meterway-local-events:" + settings.admin_api_key.encode()).hexdigest()


def make_provider(settings: Settings, stores: Stores, plans: PlanBook) -> PaymentsProvider:
    """Stripe, the local provider only when PAYMENTS_PROVIDER=local names it, else none."""
    cfg = settings.payments
    if cfg.provider == "stripe":
        # The stripe package takes a tenth of a second to import: only a Stripe gateway pays it.
        from gateway.payments.stripe_provider import StripeProvider

        return StripeProvider(
            cfg.stripe_api_key, cfg.stripe_webhook_secrets, plans, api_base=cfg.stripe_api_base
        )
    if cfg.provider == "local":
        return LocalProvider(stores.local_provider_store(), plans, local_secret(settings))
    return NoProvider()


def make_payments(
    settings: Settings,
    provider: PaymentsProvider,
    stores: Stores,
    plans: PlanBook,
) -> Payments:
    cfg = settings.payments
    config = PaymentsConfig(
        cfg.grace_days,
        TopupLimits(cfg.topup_min_micros, cfg.topup_max_micros),
        settings.outbound.balance_low_micros,
        settings.billing_url,
        settings.public_url,
    )
    profiles = stores.payments_store()
    outbox = stores.notify_ledger() if settings.outbound.notify else None
    thresholds = stores.notify_ledger().thresholds
    desk = Desk(
        stores.ledger, stores.store, stores.members(), stores.signups(), plans,
        stores.domain_claims(), stores.notify_ledger(),
    )  # fmt: skip
    return Payments(
        provider,
        profiles,
        stores.ledger,
        stores.store,
        plans,
        config,
        outbox,
        thresholds,
        stores.audit_log(),
        partial(card_verified, desk),  # recorded for the farms, the check on or off
        stores.invoices().mark_paid,  # an invoice sent through Stripe Invoicing is paid
    )
