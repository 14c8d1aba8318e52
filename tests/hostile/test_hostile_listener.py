"""Issue 10, items 8, 14, 17: no client key in any log line, no connection held open by a
slow or silent client, and operator details only where the operator reads them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from gateway.cli.dev_guard import DEV_ADMIN_KEY
from gateway.cli.main import main
from tests.hostile.conftest import hostile_env, money
from tests.hostile.provider import HostileProvider
from tests.hostile.rawclient import open_idle, read_answer, request_bytes, send_raw
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway, free_port, running_gateway

CLIENT_KEY = "mw-" + "S3cr3tClientKey" * 3


@pytest.fixture
async def strict(dsn: str, hp: HostileProvider) -> AsyncIterator[Gateway]:
    """Short client timeouts, a small connection cap and an operator listener."""
    env = hostile_env(
        hp,
        CLIENT_IDLE_TIMEOUT_S="1.5",
        CLIENT_BODY_TIMEOUT_S="1",
        MAX_CONNECTIONS="8",
        ADMIN_LISTEN_ADDR=f"127.0.0.1:{free_port()}",
    )
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway


@pytest.mark.parametrize(
    "raw",
    [
        f"GET /v1/models HTTP/1.1\nHost: gw\nAuthorization: Bearer {CLIENT_KEY}\n\n".encode(),
        (
            f"GET /v1/models HTTP/1.1\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
            f"X-Big: {'a' * 20_000}\r\n\r\n"
        ).encode(),
    ],
)
async def test_malformed_requests_get_json_and_no_log_line_holds_the_key(
    hgw: Gateway, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    t = await tenant(hgw)
    with caplog.at_level(logging.DEBUG):
        answer = await send_raw(hgw.url, raw)
        logging.getLogger("meterway").error("echo %s", f"Bearer {CLIENT_KEY}")
    assert answer.status == 400 and "x-request-id" in answer.headers
    assert answer.json()["error"]["code"] == "malformed_request"
    assert CLIENT_KEY.encode() not in answer.body
    assert caplog.records and "Error handling request" in caplog.text
    assert CLIENT_KEY not in caplog.text and "S3cr3t" not in caplog.text
    m = await money(hgw, t.account_id)
    assert (m.held, m.rows) == (0, [])


async def test_silent_and_slowloris_connections_are_closed(strict: Gateway) -> None:
    silent = await open_idle(strict.url, 3)
    reader, writer = (await open_idle(strict.url, 1))[0]
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(30):
        for byte in b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Slow: " + b"a" * 300:
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)
        assert await reader.read() == b""
        for r, _ in silent:
            assert await r.read() == b""
    assert loop.time() - started < 15  # closed at the 1.5 s bound, not aiohttp's 3,630 s
    for _, w in [*silent, (reader, writer)]:
        w.close()


async def test_connections_over_the_cap_are_closed_at_once(strict: Gateway) -> None:
    held = await open_idle(strict.url, 8)
    await asyncio.sleep(0.2)
    reader, writer = (await open_idle(strict.url, 1))[0]
    writer.write(request_bytes("GET", "/healthz"))
    async with asyncio.timeout(1):  # well before the 1.5 s idle timeout frees the others
        assert await reader.read() == b""
    for _, w in [*held, (reader, writer)]:
        w.close()


async def test_a_trickled_body_gets_408(strict: Gateway, hp: HostileProvider) -> None:
    t = await tenant(strict)
    host, port = strict.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = request_bytes("POST", "/v1/chat/completions", {"Authorization": f"Bearer {t.key}"})
    writer.write(head.replace(b"\r\n\r\n", b"\r\nContent-Length: 100\r\n\r\n") + b'{"model"')
    async with asyncio.timeout(10):
        answer = await read_answer(reader)
    writer.close()
    assert (answer.status, answer.json()["error"]["code"]) == (408, "request_timeout")
    m = await money(strict, t.account_id)
    assert (m.held, m.rows, hp.seen) == (0, [], [])


async def test_metrics_and_readiness_details_only_for_the_operator(
    hgw: Gateway, strict: Gateway
) -> None:
    token = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for gw in (hgw, strict):
        async with gw.http.get(gw.url + "/healthz") as r:
            assert r.status == 200
        async with gw.http.get(gw.url + "/readyz") as r:
            assert set(await r.json()) == {"status"}
        async with gw.http.get(gw.url + "/metrics") as r:
            assert r.status == 404
    async with hgw.http.get(hgw.url + "/metrics", headers=token) as r:
        assert r.status == 200 and "meterway_settlement_backlog" in await r.text()
    async with hgw.http.get(hgw.url + "/readyz", headers=token) as r:
        assert "redis" in await r.json()
    assert strict.settings.admin_listen is not None
    admin_url = f"http://127.0.0.1:{strict.settings.admin_listen[1]}"
    async with strict.http.get(strict.url + "/metrics", headers=token) as r:
        assert r.status == 404  # with a listener of its own, never on the public port
    async with strict.http.get(admin_url + "/metrics") as r:
        assert r.status == 200 and "meterway_settlement_backlog" in await r.text()
    async with strict.http.get(admin_url + "/readyz") as r:
        assert "redis" in await r.json()


def test_serve_refuses_the_dev_admin_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_API_KEY", DEV_ADMIN_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/none")
    assert main(["serve"]) == 2
    assert "dev" in capsys.readouterr().err
