"""Keys people make call every SDK's default path, the Responses API included: the
`inference` group (the getting-started key), the dashboard's default "Call any model" group,
and a signed-in user's grant. Before, the getting-started key held `["chat"]` and the
dashboard offered no `responses` scope: Codex, openai-agents and the Vercel AI SDK got 403."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import openai
import pytest
from playwright.async_api import Page

from billing.grants import PROXY_SCOPES
from tests.support.browser_kit import sign_in
from tests.support.factories import anthropic_client, debits, openai_client, tenant
from tests.support.harness import Gateway, die_with_parent

ROOT = Path(__file__).resolve().parents[2]
SIGNER = ["billing", "account:read", "usage:read", "keys:read", "keys:write"]


async def every_default_path(gw: Gateway, key: str) -> None:
    """Responses, chat and Messages, as openai-agents / Codex, LangChain and Claude Code
    call them by default."""
    async with openai_client(gw, key) as client:
        await client.responses.create(model="gpt-4o-mini", input="hi")
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    async with anthropic_client(gw, key) as claude:
        await claude.messages.create(
            model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )


async def test_the_getting_started_key_calls_every_default_path(gw: Gateway) -> None:
    tutorial = (ROOT / "docs" / "getting-started.md").read_text()
    app_key = re.search(r'\\"name\\": \\"app\\", \\"scopes\\": \[(.*?)\]', tutorial)
    assert app_key and app_key.group(1) == '\\"inference\\"'
    t = await tenant(gw, scopes=["inference"])
    status, keys = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/keys")
    assert status == 200, keys
    assert set(keys["data"][0]["scopes"]) == PROXY_SCOPES >= {"responses"}
    await every_default_path(gw, t.key)
    assert len(await debits(gw, t.account_id)) == 3


RESPONSES_CLIENTS = {
    "langchain use_responses_api": """
from langchain_openai import ChatOpenAI
llm = ChatOpenAI(model="gpt-4o-mini", base_url=URL + "/v1", api_key=KEY, use_responses_api=True)
print(llm.invoke("say hi").content)
""",
    "litellm.responses": """
import os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm
answer = litellm.responses(
    model="openai/gpt-4o-mini", input="say hi", api_base=URL + "/v1", api_key=KEY
)
print(answer.output)
""",
}


@pytest.mark.parametrize("client", RESPONSES_CLIENTS)
async def test_an_inference_key_reaches_the_responses_api_from_langchain_and_litellm(
    gw: Gateway, client: str
) -> None:
    """Two of the clients the issue saw refused 403 'lacks the responses scope'."""
    t = await tenant(gw, scopes=["inference"])
    code = f"URL, KEY = {gw.url!r}, {t.key!r}\n" + RESPONSES_CLIENTS[client]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    assert [r.path for r in gw.control.requests] == ["/v1/responses"]
    assert len(await debits(gw, t.account_id)) == 1


async def test_a_key_without_responses_is_still_refused_it(gw: Gateway) -> None:
    """No key made before gains a scope: `chat` alone does not reach the Responses API."""
    t = await tenant(gw, scopes=["chat"])
    async with openai_client(gw, t.key) as client:
        try:
            await client.responses.create(model="gpt-4o-mini", input="hi")
        except openai.PermissionDeniedError as exc:
            assert "lacks the 'responses' scope" in str(exc)
        else:
            raise AssertionError("a chat-only key reached the Responses API")


async def test_the_dashboards_default_group_makes_a_key_for_every_default_path(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw, scopes=[*SIGNER, "inference"])
    await sign_in(page, t.key)
    await page.goto("/dashboard/keys")
    assert "Call any model" in await page.inner_text("#create-key")
    assert await page.is_checked("input[name=groups][value=inference]")
    await page.fill("#key-name", "agents")
    await page.click("#create-key button[type=submit]")
    secret = await page.input_value("#secret")
    await every_default_path(gw, secret)


async def test_a_group_hands_on_only_what_the_signer_holds(gw: Gateway, page: Page) -> None:
    """A key holding `chat` alone makes, with the default group, a `chat` key: never wider."""
    t = await tenant(gw, scopes=[*SIGNER, "chat"])
    await sign_in(page, t.key)
    await page.goto("/dashboard/keys")
    await page.fill("#key-name", "narrow")
    await page.click("#create-key button[type=submit]")
    assert (await page.input_value("#secret")).startswith("mw-")
    status, keys = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/keys")
    assert status == 200, keys
    made = next(k for k in keys["data"] if k["name"] == "narrow")
    assert made["scopes"] == ["chat"]
