"""Money's use cases: the one settlement (meter/), credits, refunds, money out, auto top-up,
payments (payment/), plan changes, grace, limits, window use and refusals."""
