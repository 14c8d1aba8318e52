"""The metering API under /v1/metering: other services charge meters against the same
credits (`routes.py`; `bodies.py` reads its requests)."""
