"""Coding agents at pinned versions (tests/agents/package.json: Claude Code, Codex CLI,
Gemini CLI) run one-shot against a test gateway, through a proxy that records every request
an agent sends and the status it got.

Each runs with HOME in a temporary directory, its telemetry, update checks and auto-update
off by their own settings, and HTTP(S)_PROXY pointing at a closed loopback port with only
loopback exempt, so an agent reaching for anything but the gateway fails instead of leaving
the machine."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.support.harness import die_with_parent, listen

AGENTS = Path(__file__).resolve().parents[1] / "agents"
BIN = AGENTS / "node_modules" / ".bin"
DEAD_PROXY = "http://127.0.0.1:9"  # discard port, closed: any non-loopback call fails
HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
)
PROMPT = "say hi"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    status: int


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def installed(agent: str) -> bool:
    return (BIN / agent).exists()


async def ensure_installed() -> None:
    """`npm ci` in tests/agents on a fresh clone (CI runs it first, as .ci/run does)."""
    if all(installed(a) for a in ("claude", "codex", "gemini")):
        return
    npm = await asyncio.create_subprocess_exec(
        "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=AGENTS
    )
    assert await asyncio.wait_for(npm.wait(), 600) == 0, "npm ci in tests/agents"


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in HOP}


@asynccontextmanager
async def recording_proxy(target: str) -> AsyncIterator[tuple[str, list[Seen]]]:
    """A pass-through to `target` (streams relayed as they come) keeping each request's
    method, path and status; yields its URL and that list."""
    seen: list[Seen] = []
    session = aiohttp.ClientSession(auto_decompress=False)

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with session.request(
            request.method,
            target + request.path_qs,
            headers=_kept(request.headers),
            data=body,
            allow_redirects=False,
        ) as up:
            seen.append(Seen(request.method, request.path_qs, up.status))
            answer = web.StreamResponse(status=up.status, headers=_kept(up.headers))
            await answer.prepare(request)
            async for chunk in up.content.iter_any():
                await answer.write(chunk)
            await answer.write_eof()
            return answer

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", relay)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = await listen(runner)
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()
        await session.close()


def base_env(home: Path) -> dict[str, str]:
    node = shutil.which("node")
    assert node, "the agents run on Node"
    dead = {name: DEAD_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    return {
        "PATH": f"{Path(node).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "TERM": "dumb",
        "CI": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **dead,
    }


def claude(home: Path, url: str, key: str) -> tuple[list[str], dict[str, str]]:
    env = {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": key,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return [str(BIN / "claude"), "-p", PROMPT], env


def codex(home: Path, url: str, key: str) -> tuple[list[str], dict[str, str]]:
    """Codex's own provider table, `wire_api = "responses"` (its default wire), the key
    from an environment variable; its default model is whatever this release picks."""
    config = home / ".codex"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        'model_provider = "meterway"\n'
        "check_for_update_on_startup = false\n"
        "[analytics]\nenabled = false\n"
        "[model_providers.meterway]\n"
        'name = "Meterway"\n'
        f'base_url = "{url}/v1"\n'
        'env_key = "MW_KEY"\n'
        'wire_api = "responses"\n'
    )
    env = {"CODEX_HOME": str(config), "MW_KEY": key}
    return [str(BIN / "codex"), "exec", "--skip-git-repo-check", PROMPT], env


def gemini(home: Path, url: str, key: str) -> tuple[list[str], dict[str, str]]:
    """Gemini CLI with an API key (its Gemini API path), pointed at the gateway's native
    Gemini routes."""
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        "telemetry": {"enabled": False},
    }
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    env = {
        "GEMINI_API_KEY": key,
        "GOOGLE_GEMINI_BASE_URL": url,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }
    return [str(BIN / "gemini"), "-p", PROMPT], env


AGENT_SETUPS = {"claude": claude, "codex": codex, "gemini": gemini}


async def run_agent(agent: str, home: Path, url: str, key: str, timeout_s: float = 150) -> Run:
    """One one-shot run in `home` (also its working directory), stdin closed."""
    argv, extra = AGENT_SETUPS[agent](home, url, key)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=home,
        env={**base_env(home), **extra},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return Run(-9, out.decode(errors="replace"), err.decode(errors="replace"))
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
