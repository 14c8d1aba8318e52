"""Money: micros, reservations and their decisions, quota windows, plans, credit grants, payments
and receipts, leases, and how an amount reads.
"""
