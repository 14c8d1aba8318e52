"""Proof: the ledger's seals, signed receipts and their signing keys, reviewed price changes."""
