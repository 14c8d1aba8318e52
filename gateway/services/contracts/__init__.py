"""Contracts' use cases: commitments, invoices and their sending, bring-your-own-key, price books,
statements."""
