"""Proof: reconciliation with the providers' reports, the ledger's Merkle proof, price drift, and
the audit log's words.
"""
