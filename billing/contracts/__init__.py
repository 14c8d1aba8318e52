"""Contracts: commitments, invoices, currency, statements and the reseller's view (an
invoice's tax is billing/money/tax.py, a BYOK call's fee billing/pricing/byok.py: the payment
port and the meter, both money's, use them).

The face below is what another capability may use; the modules are this room's own.
"""

from billing.contracts.commitments import allowance, period_after, terms_from
from billing.contracts.statements import Month

__all__ = ["Month", "allowance", "period_after", "terms_from"]
