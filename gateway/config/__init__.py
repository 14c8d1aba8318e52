"""The settings room: every setting and config reader, read once at start-up.

`settings.py` holds the one frozen `Settings` (`load_settings`); the other modules each read
one part of it (`payments.py`, `providers.py`, `mcp.py`, `signup.py`, `traces.py`,
`outbound.py`, the egress rules and the return-URL origins) and `values.py` says what a valid
value of each kind is. It sits below every room that reads it and imports only `billing`,
`errors` and `addresses`, so no import climbs back up through it.
"""
