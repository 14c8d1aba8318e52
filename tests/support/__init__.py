"""What the tests stand on: the harness (real PostgreSQL, Redis and the gateway on
a free port), test data, the money invariants, clients and kits; fakes of outside services
are in `fakes`."""
