"""The response cache's entries in Redis (entries.py)."""
