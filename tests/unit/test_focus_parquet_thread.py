"""A Parquet export is written off the event loop's thread: a month's file takes seconds of
CPU and the first imports pyarrow (and pandas, where installed), while the same loop relays
every proxied call of the process."""

from __future__ import annotations

import io
import threading
from collections.abc import AsyncIterator

import pyarrow.parquet as pq
import pytest

from billing.usage.focus import Row
from gateway.services.usage.focus import parquet
from gateway.services.usage.focus.export import parquet_bytes


async def test_the_parquet_file_is_written_off_the_event_loops_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writers: list[int] = []
    write = parquet.write

    def watched(rows: list[Row], columns: tuple[str, ...]) -> bytes:
        writers.append(threading.get_ident())
        return write(rows, columns)

    monkeypatch.setattr(parquet, "write", watched)

    async def pages() -> AsyncIterator[list[Row]]:
        yield []

    body = await parquet_bytes(pages())
    assert writers and writers[0] != threading.get_ident()
    assert pq.read_table(io.BytesIO(body)).num_rows == 0
