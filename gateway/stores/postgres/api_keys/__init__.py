"""The ledger's keys in api_keys: recording a key with its minter (ledger.py) and rotation's
copy and lineage (copy.py)."""
