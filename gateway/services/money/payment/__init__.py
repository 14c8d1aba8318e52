"""The payment use cases: what a user does (payments.py), a provider's event to the ledger
(events.py), replay and reconcile (sync.py), and the port a provider implements
(port.py)."""
