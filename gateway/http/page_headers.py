"""The headers every HTML page Meterway serves carries (the dashboard's, the API docs page),
beside the Content-Security-Policy each page states for itself."""

from __future__ import annotations

PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
