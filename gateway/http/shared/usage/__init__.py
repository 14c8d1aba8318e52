"""Usage over HTTP: FOCUS exports, usage and ledger reports, tags."""
