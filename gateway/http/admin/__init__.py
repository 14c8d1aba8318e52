"""The operator API under /admin/v1: accounts, keys, money, prices, services and the system;
`routes.py` mounts it behind the operator's credential (`operator.py`)."""
