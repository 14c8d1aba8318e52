"""The proxied surface: reading a call, forwarding, relaying and settling it (`routes.py`),
and the provider routes beside it (Responses, files and batches, media, token counts)."""
