"""Contracts' ports: price books, BYOK keys, commitments, invoices."""
