"""Proof's tables: the audit log, the ledger's proof, reconciliation, receipts on answers, price
changes and drift."""
