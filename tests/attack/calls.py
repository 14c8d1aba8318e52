"""What the attack tests send as a customer would, over plain HTTP."""

from __future__ import annotations

import json
from typing import Any

from tests.support.harness import Gateway


async def chat(
    gw: Gateway, key: str, model: str = "gpt-4o-mini", prompt: str = "hi", max_tokens: int = 500
) -> tuple[int, int | None, Any]:
    """(status, x-meterway-cost-micros, body) of one chat completion over raw HTTP."""
    body = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
    }
    async with gw.http.post(
        gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, json=body
    ) as r:
        cost = r.headers.get("x-meterway-cost-micros")
        return r.status, int(cost) if cost is not None else None, json.loads(await r.text())


async def customer_get(gw: Gateway, key: str, path: str, **headers: str) -> tuple[int, str, bytes]:
    """GET `path` with the customer's key: (status, content type, body)."""
    async with gw.http.get(
        gw.url + path, headers={"Authorization": f"Bearer {key}", **headers}
    ) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.read()
