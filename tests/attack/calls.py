"""What the attack tests send as a customer would, over plain HTTP."""

from __future__ import annotations

from tests.support.harness import Gateway


async def customer_get(gw: Gateway, key: str, path: str, **headers: str) -> tuple[int, str, bytes]:
    """GET `path` with the customer's key: (status, content type, body)."""
    async with gw.http.get(
        gw.url + path, headers={"Authorization": f"Bearer {key}", **headers}
    ) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.read()
