"""A TCP proxy a test can cut (drop every connection, refuse new ones) and restore, reset
(every open connection dropped with an RST, new ones let through: a restarted peer or a
firewall), slow (every reply held `reply_delay_s` before it is passed on: a Redis slow to
answer), stall (drop every connection and hold new ones, accepted but unread, until
`restore`: a command on a new connection cannot reach Redis, nor be written past its setup's
replies), blackhole (every connection, open or new, kept open and passing no byte either
way until `restore`: a network that drops packets, neither end told), or half-open (the
server's side of every connection closed, the client's kept open and silent: a peer that
went away without a word reaching the client)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from urllib.parse import urlsplit, urlunsplit


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.up = True
        self.reply_delay_s = 0.0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.passing = asyncio.Event()  # cleared: bytes read are held, not passed on
        self.passing.set()
        self.accepted = 0  # connections accepted, ever
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._upstream: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def redis_url(self) -> str:
        """The URL of the proxied Redis (database 0) for a gateway behind it."""
        return f"redis://127.0.0.1:{self.port}/0"

    def dsn(self, dsn: str) -> str:
        """`dsn` (a PostgreSQL URL this proxy stands in front of) reached through the proxy:
        the same user and database at the proxy's address."""
        parts = urlsplit(dsn)
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))

    def cut(self) -> None:
        self.up = False
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def reset(self) -> None:
        for w in list(self._writers):
            sock = w.get_extra_info("socket")
            if sock is not None:  # linger 0: close() sends RST, not FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
        self._writers.clear()

    def stall(self) -> None:
        self.cut()
        self.up = True
        self.flowing.clear()

    def blackhole(self) -> None:
        self.flowing.clear()
        self.passing.clear()

    def half_open(self) -> None:
        self.blackhole()
        for w in list(self._upstream):
            w.transport.abort()

    def restore(self) -> None:
        self.up = True
        self.flowing.set()
        self.passing.set()

    async def close(self) -> None:
        self.cut()
        self.flowing.set()
        self.passing.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.add(writer)
        await self.flowing.wait()
        if writer.transport.is_closing():  # cut while it was held
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        self._upstream.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer),
            self._pipe(up_reader, writer, replies=True),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, replies: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                if replies and self.reply_delay_s:
                    await asyncio.sleep(self.reply_delay_s)
                await self.passing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            self._upstream.discard(writer)
            if not self.passing.is_set() and not replies:
                # The client closed while nothing passed: its close reaches the server once
                # bytes pass again, as a real network delivers a FIN retransmitted after it
                # heals. (A server left waiting for the rest of a COPY would otherwise hold
                # its transaction, and its row locks, for good.)
                await self.passing.wait()
            if self.passing.is_set():  # half-open: the client's side stays open, silent
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    writer.transport.abort()
