"""Writing Redis from the ledger and repairing it: balances under a fence, grant write-offs, the
self-restore and window counters recounted."""
