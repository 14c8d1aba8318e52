"""Restoring Redis from PostgreSQL: the lock and record of each restore (runs.py) and what a
rebuild reads (source.py)."""
