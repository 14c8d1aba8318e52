"""panva's `oidc-provider` on Node (tests/oidc_provider) as a subprocess: a real OpenID
Connect provider for the sign-in tests, any login and password accepted."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.harness import LOCAL_SINKS, die_with_parent, free_port

PROVIDER = Path(__file__).resolve().parents[2] / "oidc_provider"
CLIENT_SECRET = "a-client-secret-" + secrets.token_hex(8)


@asynccontextmanager
async def oidc_provider(public_url: str) -> AsyncIterator[dict[str, str]]:
    """The provider, registered with the gateway at `public_url` as client `meterway`;
    yields the gateway's OIDC_* settings for it."""
    if not (PROVIDER / "node_modules" / "oidc-provider").is_dir():  # a fresh clone
        npm = await asyncio.create_subprocess_exec("npm", "ci", "--no-audit", cwd=PROVIDER)
        assert await asyncio.wait_for(npm.wait(), 300) == 0, "npm ci in tests/oidc_provider"
    port = free_port()
    env = {
        "PORT": str(port),
        "REDIRECT_URI": f"{public_url}/dashboard/signin/oidc/callback",
        "CLIENT_SECRET": CLIENT_SECRET,
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    idp = await asyncio.create_subprocess_exec(
        "node", "server.mjs", cwd=PROVIDER, env=env, stdout=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    try:
        assert idp.stdout is not None
        line = await asyncio.wait_for(idp.stdout.readline(), 30)
        assert b"listening" in line, line
        yield {
            "OIDC_ISSUER": f"http://127.0.0.1:{port}",
            "OIDC_CLIENT_ID": "meterway",
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_DISPLAY_NAME": "Test IdP",
            **LOCAL_SINKS,  # the provider is local, admitted on purpose past the egress rules
        }
    finally:
        idp.terminate()
        await idp.wait()
