"""What several surfaces serve: the account API, the operator API and the dashboard call
these use cases and serializers (teams, grants, budgets, reports, keys, money...), so no
surface imports another (tests/unit/test_import_map.py)."""
