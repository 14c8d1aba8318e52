"""Pricing's tables: the rate cards each debit names, plans' approved markups, each start's
cards."""
