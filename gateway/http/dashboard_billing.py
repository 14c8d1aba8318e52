"""The Billing page and the Overview's next step: filled in once /v1/account/billing lands."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http.principal import Principal


async def billing_overview(
    request: web.Request, who: Principal, upgrade_to: str | None = None
) -> dict[str, Any] | None:
    """What GET /v1/account/billing answers for this caller; None until payments exist."""
    return None
