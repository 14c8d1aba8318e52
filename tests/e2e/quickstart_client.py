"""The quickstart test's client, run inside the test's network namespace (where `meterway
dev` listens) by the fresh virtualenv's Python: `python quickstart_client.py BASE KEY
[REQUEST_ID]`. It calls the API with the openai SDK, signs into the dashboard with the key,
reads the demo account's ledger with the operator key (waiting up to 20 s for REQUEST_ID,
a debit of an earlier run), and prints what it saw as one JSON object.

Standalone on purpose: it imports nothing from the checkout, only what the virtualenv has.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

import aiohttp
from openai import OpenAI

OPERATOR_KEY = "dev-admin-key-change-me-in-production"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def call(base: str, key: str) -> dict[str, object]:
    client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello from the quickstart"}]
    )
    answer = raw.parse()
    return {
        "content": answer.choices[0].message.content,
        "request_id": raw.headers["x-request-id"],
        "cost_micros": int(raw.headers["x-meterway-cost-micros"]),
    }


async def dashboard(base: str, key: str) -> dict[str, object]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(base + "/dashboard/signin") as r:
            token = CSRF.search(await r.text())
        assert token is not None, "the sign-in page has no csrf field"
        form = {"csrf": token.group(1), "credential": key}
        async with http.post(base + "/dashboard/signin", data=form) as r:
            await r.read()
        async with http.get(base + "/dashboard") as r:
            page = await r.text()
            return {"dashboard_status": r.status, "dashboard_path": r.url.path, "page": page}


async def ledger(base: str, wait_for: str | None) -> str:
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    url = base + "/admin/v1/accounts/acct_demo/ledger"
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession(headers=headers) as http:
        while True:
            async with http.get(url) as r:
                text = await r.text()
            if wait_for is None or wait_for in text or time.monotonic() > deadline:
                return text
            await asyncio.sleep(0.2)


def main() -> None:
    base, key = sys.argv[1], sys.argv[2]
    earlier = sys.argv[3] if len(sys.argv) > 3 else None
    seen = call(base, key)
    seen.update(asyncio.run(dashboard(base, key)))
    seen["ledger"] = asyncio.run(ledger(base, earlier or str(seen["request_id"])))
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
