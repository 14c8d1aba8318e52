"""The one error of loading prices."""

from __future__ import annotations


class PricingError(ValueError):
    """The prices cannot be loaded exactly; raised at start-up, never per request."""
