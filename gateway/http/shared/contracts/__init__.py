"""Contracts over HTTP: BYOK keys, commitments, invoices, price books, statements."""
