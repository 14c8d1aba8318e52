"""Contracts: commitments, invoices, tax, currency, bring-your-own-key fees, statements and the
reseller's view.
"""
