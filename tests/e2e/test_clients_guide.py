"""docs/guides/clients.md, every block run as written against a test gateway and the demo
upstream: shell blocks in bash (the coding agents from tests/agents), Python blocks with this
environment's interpreter, JavaScript blocks with Node beside tests/agents' packages. Only the
address and the key change. Each run completes with the demo's reply, no request it sends
gets a 4xx, and every call that reached the provider is debited exactly its reported usage."""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billing.metering.usage import Usage
from tests.support.agents_kit import AGENTS, BIN, base_env, ensure_installed, recording_proxy
from tests.support.factories import debits, held, price, tenant
from tests.support.harness import Gateway, die_with_parent, running_gateway

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "clients.md"
URL, KEY = "https://meterway.example.com", "mw-your-key"
RUNNERS = {"sh": ("bash", ".sh"), "python": (sys.executable, ".py"), "js": ("node", ".mjs")}
UNBILLED = ("count_tokens", ":countTokens")
DEMO = "This is the Meterway demo upstream"


def sections() -> dict[str, list[tuple[str, str]]]:
    """Each `## ` section's code blocks, as (language, code)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for part in GUIDE.read_text().split("\n## ")[1:]:
        title, _, body = part.partition("\n")
        found[title] = re.findall(r"```(\w+)\n(.*?)```", body, flags=re.S)
    return found


CLIENTS = [title for title, blocks in sections().items() if blocks]


def test_the_guide_covers_every_client_people_ask_for() -> None:
    assert CLIENTS == [
        "Claude Code",
        "Codex CLI",
        "Gemini CLI",
        "Cursor",
        "The Vercel AI SDK",
        "LangChain",
        "LiteLLM",
        "openai-agents",
    ]


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    await ensure_installed()
    async with running_gateway(dsn, GOOGLE_API_KEY="g-key") as gateway:
        yield gateway
        await gateway.settle_all()


async def run_block(lang: str, code: str, home: Path) -> tuple[int, str]:
    """One block in its language, HOME in `home`, the agents' binaries on PATH; JavaScript
    from tests/agents, where its packages are."""
    program, suffix = RUNNERS[lang]
    where = AGENTS if lang == "js" else home
    script = where / f".block-{secrets.token_hex(4)}{suffix}"
    script.write_text(code)
    env = base_env(home)
    env["PATH"] = f"{BIN}:{Path(sys.executable).parent}:{env['PATH']}"
    try:
        proc = await asyncio.create_subprocess_exec(
            program, str(script), cwd=home, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 150)
    finally:
        script.unlink()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("client", CLIENTS)
async def test_the_guides_configuration_works(gw: Gateway, client: str, tmp_path: Path) -> None:
    t = await tenant(gw, credit=50_000_000, plan="pro", scopes=["inference"])
    async with recording_proxy(gw.url) as (url, seen):
        for lang, code in sections()[client]:
            status, out = await run_block(
                lang, code.replace(URL, url).replace(KEY, t.key), tmp_path
            )
            assert status == 0, f"{lang} block exited {status}:\n{out[-4000:]}"
    assert DEMO in out, out[-4000:]
    refused = [s for s in seen if s.status >= 400]
    assert not refused, f"{refused}\n{out[-4000:]}"
    billed = [r for r in gw.control.requests if not r.path.endswith(UNBILLED)]
    rows = await debits(gw, t.account_id)
    assert billed and len(rows) == len(billed), (rows, [r.path for r in billed])
    for row in rows:
        usage = Usage(input_tokens=row["input_tokens"], output_tokens=row["output_tokens"])
        assert row["usage_source"] == "provider", row
        assert row["amount_micros"] == -price(gw, row["model"]).cost_micros(usage), row
        if "cost_micros:" in out:
            assert f"cost_micros: {-row['amount_micros']}" in out, out[-2000:]
    assert await held(gw, t.account_id) == 0
