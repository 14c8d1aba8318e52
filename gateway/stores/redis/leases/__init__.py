"""Leases in Redis: one process's leases, their record, their appended settlements and the lease
scripts' calls."""
