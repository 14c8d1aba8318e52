"""Proof over HTTP: the audit log, price changes, reconciliation."""
