"""The answers of a paying action that could not be done, on the billing API and the dashboard
alike: the provider's failure, or payments not set up."""

from __future__ import annotations

from gateway.errors import PaymentProviderError, PaymentsNotSetUp
from gateway.services.money.payment.port import ProviderUnavailable


def provider_error(exc: ProviderUnavailable) -> PaymentProviderError:
    """The provider's failure as the client's: its status and message when it answered."""
    return PaymentProviderError(exc.said(), retry_after_s=5)


def not_set_up() -> PaymentsNotSetUp:
    """The one answer of every paying action while no payment provider is configured."""
    return PaymentsNotSetUp("Payments are not set up on this gateway; ask its operator for credit.")
