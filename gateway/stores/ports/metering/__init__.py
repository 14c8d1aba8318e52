"""Metering's ports: service keys and metered usage, idempotency."""
