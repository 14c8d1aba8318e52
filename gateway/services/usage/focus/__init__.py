"""FOCUS 1.2 exports of the ledger: the rows (billing/usage/focus.py) read and written as files."""
