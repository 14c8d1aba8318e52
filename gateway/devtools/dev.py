"""`meterway dev`: the whole gateway on this machine with a demo upstream, in one command.

Creates the database if needed, migrates, rebuilds Redis, starts the built-in demo provider
(OpenAI and Anthropic wire formats), creates a demo account with credit and a fresh key,
prints copy-paste examples, then serves until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import replace

from billing.metering.tokens import TokenCounter
from billing.money.plans import load_plans
from gateway.config.settings import Settings
from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.http.dashboard.keys import SCOPES
from gateway.ops.rebuild import rebuild
from gateway.runtime import serve
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.services.money.credits import post_credit
from gateway.stores.connect import Stores, open_stores
from gateway.stores.postgres.migrate import ensure_database

DEMO_ACCOUNT = "acct_demo"
# Every scope a key can hold, `billing` included, so the demo key also signs into the dashboard.
DEMO_KEY = KeySpec("demo", scopes=tuple(SCOPES))
DEMO_CREDIT_MICROS = 10_000_000
DEMO_ROOTS = {"anthropic": "", "gemini": "/v1beta"}  # each wire's API root on the demo upstream


async def _demo_key(stores: Stores, settings: Settings) -> str:
    plans = load_plans(settings.plans_path)
    if await stores.ledger.get_account(DEMO_ACCOUNT) is None:
        plan = plans.plans["starter"]
        await stores.ledger.create_account(DEMO_ACCOUNT, "Demo account", plan.name, plan.mode)
        await stores.store.put_account(
            DEMO_ACCOUNT,
            plan=plan.name,
            mode=plan.mode,
            billing_ready=False,
            quotas=plan.quotas,
            markup_bps=plan.markup_bps,
        )
    await post_credit(
        stores.ledger,
        stores.store,
        DEMO_ACCOUNT,
        DEMO_CREDIT_MICROS,
        "demo-initial-credit",
        "demo credit",
    )
    issued = await issue_key(stores.ledger, stores.store, DEMO_ACCOUNT, DEMO_KEY)
    return issued.secret


def _banner(settings: Settings, key: str, stores: str = "") -> str:
    host = "127.0.0.1" if settings.listen_host in ("0.0.0.0", "::") else settings.listen_host
    base = f"http://{host}:{settings.listen_port}"
    admin = settings.admin_api_key
    return f"""
Meterway is running in demo mode at {base} (demo upstream; nothing leaves this machine).
Demo account {DEMO_ACCOUNT} has credit; demo key (shown once): {key}
Dashboard: {base}/dashboard (sign in with the demo key); operator key: {admin}
{stores}

  curl -s {base}/v1/chat/completions -H "Authorization: Bearer {key}" \\
    -H "content-type: application/json" \\
    -d '{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "Hello!"}}]}}' -i

  python -c "from openai import OpenAI; c = OpenAI(base_url='{base}/v1', api_key='{key}'); \\
r = c.chat.completions.create(model='gpt-4o-mini', \\
messages=[{{'role': 'user', 'content': 'Hi'}}]); print(r.choices[0].message.content, r.usage)"

  curl -s {base}/admin/v1/accounts/{DEMO_ACCOUNT} -H "Authorization: Bearer {admin}"
  curl -s {base}/admin/v1/accounts/{DEMO_ACCOUNT}/ledger -H "Authorization: Bearer {admin}"
Ctrl-C stops it.
"""


async def run_dev(settings: Settings, where: str = "") -> None:
    """Serve the demo until Ctrl-C; `where` says in the banner where PostgreSQL and Redis
    are (embedded ones with their data directory)."""
    await ensure_database(settings.database_url)
    async with open_stores(settings) as stores:
        await stores.operator().migrate()
        # A previous dev session left Redis live: keep what it holds (open holds included).
        await rebuild(stores, load_plans(settings.plans_path), force=True)
        counter = TokenCounter()
        upstream = await start_upstream(
            control=UpstreamControl(counter=lambda text: counter.count_text("o200k_base", text))
        )
        providers = {
            name: replace(p, base_url=upstream.url + DEMO_ROOTS.get(p.wire, "/v1"), api_key="demo")
            for name, p in settings.providers.items()
        }
        demo = replace(settings, providers=providers)
        key = await _demo_key(stores, demo)
    ready = asyncio.Event()
    server = asyncio.create_task(serve(demo, ready=ready))
    try:
        await _started(server, ready)
        print(_banner(demo, key, where), flush=True)
        await server
    finally:
        await upstream.close()


class PortTaken(Exception):
    """The address `meterway dev` was to listen on is in use: said in one line."""


async def _started(server: asyncio.Task[None], ready: asyncio.Event) -> None:
    """Wait until the gateway listens, or fail at once when it cannot (a taken port used
    to leave `dev` waiting silently for ever)."""
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({server, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if server.done():
        error = server.exception()
        if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
            raise PortTaken(str(error)) from error
        server.result()  # any other failure, as it is
