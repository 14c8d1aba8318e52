"""What every surface shares about the dashboard's links: where it is mounted (`BASE`, for
the addresses a sign-up, an invitation or a device login hands out) and how a link's or a
cookie's secret is kept (`digest`: only its SHA-256 is ever stored)."""

from __future__ import annotations

import hashlib

BASE = "/dashboard"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
