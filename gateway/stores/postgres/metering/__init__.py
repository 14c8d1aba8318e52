"""Metering's tables: service keys and metered usage, idempotency keys."""
