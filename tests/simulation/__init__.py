"""A deterministic simulation of the money core (issue 46, item 5), in the spirit of
TigerBeetle's VOPR: one `random.Random(seed)` schedules reserves, settlements, credits,
grants, adjustments, key rotations, clock jumps and faults against the real Lua scripts in
Redis and the real settler writing to PostgreSQL, and the money invariants are checked after
every step (`world.py` the accounts, `steps.py` what can happen, `run.py` one seed,
`__main__.py` the command: `python -m tests.simulation --seeds 1000`)."""
