"""The account API under /v1/account (and /v1/auth): what an organization's people and keys
see and change of their own account; `routes.py` mounts it. Modules here that serve the
operator too (teams, budgets, grants, statements, reports, the audit log) add both routes."""
