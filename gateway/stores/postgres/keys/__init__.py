"""Keys' tables beyond the ledger's own: teams."""
