"""Contracts' tables: commitments, invoices and what they apply, statements' reads, BYOK keys,
price books' facts."""
