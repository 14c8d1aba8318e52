"""Proof's ports: the audit log, the ledger's proof, reconciliation."""
