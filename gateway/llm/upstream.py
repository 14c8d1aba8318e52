# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The upstream call: one metered request to its provider, and its failures translated once.

Redirects are never followed (the operator's key would go with them); the answer's headers
must arrive within the first-byte timeout (UPSTREAM_FIRST_BYTE_TIMEOUT_S), separate from the
session's connect and total timeouts and the relay's idle timeout between chunks.

The proxy reaches providers only through the `Upstream` port, so a test can hand it a fake,
and connection errors become UpstreamTimeout / UpstreamError here, with `raise ... from exc`,
the way the stores translate theirs. The metered call goes over the lean keep-alive client
(`http1.py`); the small calls outside metering over the aiohttp session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

import aiohttp

from gateway.config.settings import ProviderSettings
from gateway.config.values import ConfigError
from gateway.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from gateway.llm import bedrock, vertex_claude
from gateway.llm.http1 import Answer, CannotConnect, Origin, Pool
from gateway.llm.providers import target
from gateway.llm.reading.betas import forwarded
from gateway.llm.reading.uploads import Encoded
from gateway.llm.sse import SSEParser

# (provider, path, incoming headers, body, model) -> (path, headers, body) as sent.
Reshape = Callable[[str, str, Mapping[str, str], bytes, str], tuple[str, dict[str, str], bytes]]


class Upstream(Protocol):
    async def post(
        self, provider: str, path: str, incoming: Mapping[str, str], body: bytes, model: str = ""
    ) -> Answer:
        """Send `body` to `path` under the provider's API root, authenticated as Meterway,
        and return the open response (any status); `model` is the model id sent there.
        Raises UpstreamTimeout or UpstreamError when no answer arrives: nothing was billed,
        the caller releases its reservation."""
        ...

    async def upload(
        self, provider: str, path: str, incoming: Mapping[str, str], body: Encoded
    ) -> Answer:
        """Send a multipart upload streamed from its spool, as `post` sends a JSON body;
        the same errors."""
        ...

    async def call(
        self,
        provider: str,
        method: str,
        path: str,
        incoming: Mapping[str, str],
        body: bytes | None,
        model: str = "",
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """A small request outside metering (read back a stored response, count tokens):
        (status, whole body, lower-case headers). Raises UpstreamTimeout or UpstreamError."""
        ...

    def stream_parser(self, provider: str) -> SSEParser | bedrock.EventStreamToSSE:
        """What reads `provider`'s stream into SSE events (Bedrock frames its own)."""
        ...

    async def realtime(
        self, provider: str, query: Mapping[str, str], incoming: Mapping[str, str], max_bytes: int
    ) -> aiohttp.ClientWebSocketResponse:
        """Open `provider`'s Realtime WebSocket (`/realtime` under its API root) with `query`,
        authenticated as Meterway; frames above `max_bytes` close it. Raises UpstreamError
        (or UpstreamTimeout) when it cannot be opened: nothing was reserved yet."""
        ...


class RedirectRefused(aiohttp.ClientError):
    """A provider answered a WebSocket handshake with a redirect: not followed."""


async def no_handshake_redirects(
    req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """The small calls' session's middleware: `ws_connect` takes no `allow_redirects` and
    follows a 3xx with the operator's key, so a redirected Realtime handshake is refused
    here, before aiohttp would follow it."""
    resp = await handler(req)
    if 300 <= resp.status < 400 and req.headers.get("Upgrade", "").lower() == "websocket":
        resp.release()
        raise RedirectRefused(f"the provider answered {resp.status}, a redirect, not followed")
    return resp


class HttpUpstream:
    """Implements `Upstream`: metered calls over `pool`, the others over `session`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        pool: Pool,
        providers: Mapping[str, ProviderSettings],
        *,
        forward_test_headers: bool = False,
        first_byte_timeout_s: float = 600.0,
    ) -> None:
        self.session = session
        self.connections = pool
        self.providers = providers
        self.forward_test_headers = forward_test_headers
        self.first_byte_timeout_s = first_byte_timeout_s
        self.origins = {name: Origin.parse(p.base_url) for name, p in providers.items()}
        signed = [name for name, p in providers.items() if p.wire == "bedrock"]
        creds = bedrock.credentials() if signed else None
        if signed and creds is None:
            raise ConfigError(
                f"[providers.{signed[0]}]: no AWS credentials found (environment, shared "
                "files, SSO or an instance role) to sign Bedrock calls with"
            )
        self.aws_credentials = {name: creds for name in signed}
        # Providers whose calls are reshaped beyond a path and headers: Bedrock (signed,
        # InvokeModel or Converse) and Anthropic's models on Vertex (rawPredict).
        self.reshaped: dict[str, Reshape] = {name: self._signed for name in signed}
        for name, p in providers.items():
            if p.wire == "vertex-anthropic":
                self.reshaped[name] = self._raw_predict

    def stream_parser(self, provider: str) -> SSEParser | bedrock.EventStreamToSSE:
        """What reads the provider's stream into SSE events: Bedrock frames its own."""
        if provider in self.aws_credentials:
            return bedrock.EventStreamToSSE()
        return SSEParser()

    async def post(
        self, provider: str, path: str, incoming: Mapping[str, str], body: bytes, model: str = ""
    ) -> Answer:
        reshape = self.reshaped.get(provider)
        if reshape is not None:
            path, headers, body = reshape(provider, path, incoming, body, model)
        else:
            dest = target(
                self.providers[provider], path, incoming, self.forward_test_headers, model
            )
            path, headers = dest.path, dest.headers
        try:
            return await self.connections.request(
                self.origins[provider], "POST", path, headers, body, self.first_byte_timeout_s
            )
        except CannotConnect as exc:
            raise UpstreamUnreachable(
                f"Could not reach the provider: {exc}; nothing was billed."
            ) from exc
        except TimeoutError as late:
            raise UpstreamTimeout(
                "The provider did not answer in time; nothing was billed."
            ) from late
        except aiohttp.ClientError as failed:
            raise UpstreamError(
                f"Could not reach the provider: {failed}; nothing was billed."
            ) from failed

    async def upload(
        self, provider: str, path: str, incoming: Mapping[str, str], body: Encoded
    ) -> Answer:
        """Over the aiohttp session, which writes a streamed body with flow control (the
        lean client writes a body in one go); the answer is handed back as the same Answer."""
        dest = target(
            self.providers[provider], path, incoming, forward_test_headers=self.forward_test_headers
        )
        headers = {**dest.headers, "content-type": body.content_type}
        headers["content-length"] = str(body.size)
        try:
            async with asyncio.timeout(self.first_byte_timeout_s):
                resp = await self.session.post(
                    dest.url, data=body.chunks, headers=headers, allow_redirects=False
                )
        except TimeoutError as late:
            raise UpstreamTimeout(
                "The provider did not answer in time; nothing was billed."
            ) from late
        except aiohttp.ClientConnectorError as unreachable:
            raise UpstreamUnreachable(
                f"Could not reach the provider: {unreachable}; nothing was billed."
            ) from unreachable
        except aiohttp.ClientError as failed:
            raise UpstreamError(
                f"Could not reach the provider: {failed}; nothing was billed."
            ) from failed
        return Answer(resp.status, resp.headers, resp.content, _Released(resp))

    def _raw_predict(
        self, provider: str, path: str, incoming: Mapping[str, str], body: bytes, model: str
    ) -> tuple[str, dict[str, str], bytes]:
        """A Messages call as Vertex's rawPredict takes it (llm/vertex_claude.py)."""
        path, body = vertex_claude.raw_predict(body, model)
        headers = target(self.providers[provider], path, incoming).headers
        return path, headers, body

    def _signed(
        self, provider: str, path: str, incoming: Mapping[str, str], body: bytes, model: str
    ) -> tuple[str, dict[str, str], bytes]:
        """A Messages call as Bedrock's InvokeModel takes it, or a Converse call, signed."""
        settings = self.providers[provider]
        if path.startswith("/converse"):
            invoke, path = body, bedrock.converse_path(model, path)
        else:
            invoke, stream = bedrock.invoke_body(body, forwarded(incoming))
            path = bedrock.invoke_path(model, stream)
        url = settings.base_url + path
        creds = self.aws_credentials[provider]
        return path, bedrock.signed_headers(url, invoke, settings.region, creds), invoke

    async def realtime(
        self, provider: str, query: Mapping[str, str], incoming: Mapping[str, str], max_bytes: int
    ) -> aiohttp.ClientWebSocketResponse:
        dest = target(self.providers[provider], "/realtime", incoming)
        headers = {"authorization": dest.headers.get("authorization", "")}
        if "openai-beta" in incoming:  # the beta protocol, when the client speaks it
            headers["openai-beta"] = incoming["openai-beta"]
        url = "ws" + dest.url.removeprefix("http")
        try:
            ws: aiohttp.ClientWebSocketResponse = await self.session.ws_connect(
                url,
                params=dict(query),
                headers=headers,
                max_msg_size=max_bytes,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            )
            return ws
        except TimeoutError as exc:
            raise UpstreamTimeout("The provider did not answer in time.") from exc
        except aiohttp.ClientError as failed:
            raise UpstreamError(
                f"Could not open the provider's Realtime session: {failed}."
            ) from failed

    async def call(
        self,
        provider: str,
        method: str,
        path: str,
        incoming: Mapping[str, str],
        body: bytes | None,
        model: str = "",
    ) -> tuple[int, bytes, Mapping[str, str]]:
        if provider in self.reshaped:  # no small calls there: the caller falls back
            raise UpstreamError("This provider serves no such request here.")
        dest = target(self.providers[provider], path, incoming, self.forward_test_headers, model)
        try:
            async with self.session.request(
                method, dest.url, data=body, headers=dest.headers, allow_redirects=False
            ) as resp:
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return resp.status, await resp.read(), headers
        except TimeoutError as exc:
            raise UpstreamTimeout("The provider did not answer in time.") from exc
        except aiohttp.ClientError as failed:
            raise UpstreamError(f"Could not reach the provider: {failed}.") from failed


class _Released:
    """An aiohttp response as an Answer's exchange: released when read, closed otherwise."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    def release(self) -> None:
        self.resp.release()

    def abort(self) -> None:
        self.resp.close()
