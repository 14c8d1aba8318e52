"""The lean upstream client (gateway/llm/http1.py) against real local servers: keep-alive
reuse, chunked and read-to-EOF bodies, a connection dropped mid-body, a stale pooled
connection, the deadlines, TLS with a self-signed certificate."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.llm.http1 import Answer, CannotConnect, Origin, Pool, request_head
from tests.support.certs import self_signed

Conn = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
JSON = {"content-type": "application/json"}


class Raw:
    """A TCP server answering each connection with `script`; counts connections."""

    def __init__(self, script: Conn) -> None:
        self.script = script
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            await self.script(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed its end: the scripts that loop end here
        finally:
            writer.close()

    async def __aenter__(self) -> Origin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return Origin.parse(f"http://127.0.0.1:{port}/v1")

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def _request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    size = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            size = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(size)


def _answers_once(wire: bytes) -> Conn:
    """A connection that reads one request, writes `wire` and closes."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(wire)
        await writer.drain()

    return script


@pytest.fixture
async def pool() -> AsyncIterator[Pool]:
    p = Pool(connect_timeout_s=2.0, total_timeout_s=10.0)
    yield p
    await p.close()


async def _post(
    pool: Pool, origin: Origin, body: bytes = b"{}", first_byte_s: float = 5.0
) -> Answer:
    return await pool.request(origin, "POST", "/chat/completions", dict(JSON), body, first_byte_s)


async def _whole(answer: Answer) -> bytes:
    async with answer:
        return await answer.content.read()


async def _web(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    return runner


def _port(runner: web.AppRunner) -> int:
    server = runner.server
    assert server is not None and runner.addresses
    return int(runner.addresses[0][1])


async def test_keep_alive_reuses_one_connection_and_sends_the_head_once(pool: Pool) -> None:
    peers: set[object] = set()
    seen: list[tuple[str, str, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        seen.append((request.path, request.headers["host"], await request.read()))
        return web.json_response({"n": len(seen)})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = await _web(app)
    try:
        origin = Origin.parse(f"http://127.0.0.1:{_port(runner)}/v1")
        for n in range(1, 4):
            assert await _whole(await _post(pool, origin, b'{"n": %d}' % n)) == b'{"n": %d}' % n
        assert pool.opened == 1 and len(peers) == 1 and pool.idle(origin) == 1
        assert seen[0] == ("/v1/chat/completions", f"127.0.0.1:{_port(runner)}", b'{"n": 1}')
    finally:
        await runner.cleanup()


async def test_a_chunked_answer_is_read_in_parts_and_the_connection_reused(pool: Pool) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        for part in (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"):
            await out.write(part)
            await asyncio.sleep(0.01)
        await out.write_eof()
        return out

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = await _web(app)
    try:
        origin = Origin.parse(f"http://127.0.0.1:{_port(runner)}/v1")
        for _ in range(2):
            answer = await _post(pool, origin)
            assert answer.headers["transfer-encoding"] == "chunked"
            parts = []
            async with answer:
                while chunk := await answer.content.readany():
                    parts.append(chunk)
            assert b"".join(parts) == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n" and len(parts) >= 2
        assert pool.opened == 1
    finally:
        await runner.cleanup()


async def test_a_connection_dropped_mid_body_fails_the_read_and_is_not_pooled(pool: Pool) -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
    async with Raw(_answers_once(cut)) as origin:
        answer = await _post(pool, origin)
        with pytest.raises(aiohttp.ClientPayloadError):
            await _whole(answer)
        assert pool.idle(origin) == 0


async def test_a_chunked_body_cut_mid_chunk_fails_the_read(pool: Pool) -> None:
    async with Raw(
        _answers_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
    ) as origin:
        with pytest.raises(aiohttp.ClientPayloadError):
            await _whole(await _post(pool, origin))


async def test_a_stale_pooled_connection_is_replaced_not_written_to(pool: Pool) -> None:
    """The provider closes an idle keep-alive connection: the next request opens a new one."""

    # The server closes after one answer, as a provider's idle timeout would.
    async with Raw(_answers_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) as origin:
        assert await _whole(await _post(pool, origin)) == b"ok"
        await asyncio.sleep(0.1)  # the FIN arrives while the connection sits in the pool
        assert await _whole(await _post(pool, origin)) == b"ok"
        assert pool.opened == 2


async def test_no_answer_on_a_connection_is_a_client_error_never_a_retry(pool: Pool) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)

    raw = Raw(script)
    async with raw as origin:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await _post(pool, origin)
        assert raw.connections == 1


async def test_an_answer_without_length_is_read_to_eof_and_1xx_is_skipped(pool: Pool) -> None:
    async with Raw(
        _answers_once(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil the end")
    ) as origin:
        answer = await _post(pool, origin)
        assert answer.status == 200
        assert await _whole(answer) == b"until the end"
        assert pool.idle(origin) == 0


async def test_a_body_left_unread_closes_the_connection(pool: Pool) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"llo")

    async with Raw(script) as origin:
        async with await _post(pool, origin):
            pass
        assert pool.idle(origin) == 0


async def test_a_large_body_arrives_whole(pool: Pool) -> None:
    got: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append((await _request(reader))[1])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    body = bytes(range(256)) * 4096  # 1 MiB, written after the head
    async with Raw(script) as origin:
        assert await _whole(await _post(pool, origin, body)) == b""
    assert got == [body]


async def test_no_head_within_the_first_byte_deadline_is_a_timeout(pool: Pool) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        await asyncio.sleep(5)

    async with Raw(script) as origin:
        with pytest.raises(TimeoutError):
            await _post(pool, origin, first_byte_s=0.2)
        assert pool.idle(origin) == 0


async def test_the_total_deadline_covers_the_body() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    tight = Pool(connect_timeout_s=1.0, total_timeout_s=0.3)
    try:
        async with Raw(script) as origin:
            answer = await _post(tight, origin, first_byte_s=0.2)
            with pytest.raises(TimeoutError):
                await _whole(answer)
    finally:
        await tight.close()


async def test_an_answer_never_released_lets_its_socket_go_at_the_total_deadline() -> None:
    closed = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
        await writer.drain()
        if not await reader.read():
            closed.set()

    tight = Pool(connect_timeout_s=1.0, total_timeout_s=0.3)
    try:
        async with Raw(script) as origin:
            answer = await _post(tight, origin, first_byte_s=0.2)
            await asyncio.wait_for(closed.wait(), 2.0)
            with pytest.raises(TimeoutError):
                await answer.content.read()
    finally:
        await tight.close()


async def test_a_connection_idle_past_keep_alive_is_closed_not_reused() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    short = Pool(connect_timeout_s=1.0, total_timeout_s=5.0, keepalive_s=0.1)
    try:
        async with Raw(script) as origin:
            await _whole(await _post(short, origin))
            await asyncio.sleep(0.25)  # the sweeper closed it
            assert short.idle(origin) == 0
            await _whole(await _post(short, origin))
            assert short.opened == 2
    finally:
        await short.close()


async def test_nothing_listening_is_cannot_connect(pool: Pool) -> None:
    with pytest.raises(CannotConnect):
        await _post(pool, Origin.parse("http://127.0.0.1:9/v1"))


def test_the_head_refuses_line_breaks_and_names_the_port_only_when_needed() -> None:
    with pytest.raises(ValueError, match="line break"):
        request_head("POST", "/x", "h", {"x-a": "1\r\nx-b: 2"}, 0)
    assert Origin.parse("https://api.example.com/v1/").authority == "api.example.com"
    assert Origin.parse("https://api.example.com/v1/").prefix == "/v1"
    assert Origin.parse("http://[::1]:8080").authority == "[::1]:8080"
    head = request_head("POST", "/v1/x", "h:81", {"content-type": "application/json"}, 2)
    assert head.startswith(b"POST /v1/x HTTP/1.1\r\nhost: h:81\r\n")
    assert head.endswith(b"content-type: application/json\r\ncontent-length: 2\r\n\r\n")


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    ca = x509.BasicConstraints(ca=True, path_length=None)
    return self_signed(
        tmp,
        "localhost",
        ec.generate_private_key(ec.SECP256R1()),
        datetime.timedelta(hours=1),
        ((san, False), (ca, True)),
    )


async def test_tls_with_a_trusted_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(
            {"secure": request.secure, "body": (await request.read()).decode()}
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = await _web(app, served)
    pool = Pool(connect_timeout_s=2.0, total_timeout_s=10.0, ssl_context=trusting)
    untrusting = Pool(connect_timeout_s=2.0, total_timeout_s=10.0)
    try:
        origin = Origin.parse(f"https://localhost:{_port(runner)}/v1")
        for _ in range(2):
            assert (
                await _whole(await _post(pool, origin, b"hi")) == b'{"secure": true, "body": "hi"}'
            )
        assert pool.opened == 1
        with pytest.raises(CannotConnect):  # the system's CAs do not know this certificate
            await _post(untrusting, origin)
    finally:
        await pool.close()
        await untrusting.close()
        await runner.cleanup()
