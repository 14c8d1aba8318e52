"""Metering: admitting and settling a proxied call (metering.py's Meter, the one settlement)
and the metering API's holds and events (metered.py, metered_events.py)."""
