"""The settlement journal: a settlement Redis did not take within its answer's budget is
appended here and fsynced before the answer's end goes out, so a process killed while Redis
is away loses no delivered call's debit (docs/concepts/durability.md).

One file a process, `<pid>-<random>.journal` in `SETTLE_JOURNAL_DIR/<REDIS_PREFIX>/`, made
under a temporary name, locked (flock, exclusive) and only then renamed, so no other process
ever finds it unlocked while its writer lives; the kernel drops the lock when the process
dies, however it dies. A line is a settlement (`s`) or a mark that Redis took one (`d`, not
fsynced: a replay of a settlement Redis has is a no-op). A process replays the files whose
lock it can take (their writer is gone): it holds the lock while it replays, checks that the
file is still the one at that name (a replayer before it may have finished and unlinked it),
and unlinks it once Redis took every settlement in it. Nothing is written while Redis takes
settlements in time: the journal costs the hot path nothing then.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from billing.metering.usage import Usage, UsageSource
from gateway.stores.errors import JournalUnavailable
from gateway.stores.ports.hot import CLOSED
from gateway.stores.records import Journaled, PendingDebit, Settlement

if TYPE_CHECKING:
    from gateway.stores.redis.hotstore import HotStore

log = logging.getLogger("meterway.journal")
SUFFIX = ".journal"
DEBITED = 1  # settle.lua's reply for a debit (stores/redis/hotstore.py)


def encode(j: Journaled) -> bytes:
    d, s = j.debit, j.debit.settlement
    u = s.usage
    fields = [
        d.request_id, d.account_id, d.shard, j.key_id, s.model, s.provider, s.cost_micros,
        s.price_version, s.provider_cost_micros, [list(p) for p in s.detail], s.end_user,
        u.input_tokens, u.cached_input_tokens, u.cache_write_tokens, u.output_tokens,
        u.reasoning_tokens, u.source,
    ]  # fmt: skip
    return orjson.dumps({"s": fields, "l": j.lease}) + b"\n"


def decode(fields: list[Any], lease: list[str] | None) -> Journaled:
    rid, account, shard, key_id, model, provider, cost, version, provider_cost = fields[:9]
    detail, end_user, inputs, cached, cache_writes, outputs, reasoning, source = fields[9:]
    counted: UsageSource = "counted" if source == "counted" else "provider"
    usage = Usage(inputs, cached, cache_writes, outputs, reasoning, counted)
    pairs = tuple((str(k), v) for k, v in detail)
    s = Settlement(model, provider, usage, cost, version, provider_cost, pairs, end_user)
    held = (lease[0], lease[1], lease[2], lease[3]) if lease else None
    return Journaled(PendingDebit(rid, account, shard, s), key_id, held)


def read(fd: int) -> list[Journaled]:
    """The settlements of a journal file that no mark says Redis took. A torn last line (the
    writer died in its write, before its fsync returned) was never acknowledged: skipped."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    entries: dict[str, Journaled] = {}
    for line in b"".join(chunks).split(b"\n"):
        try:
            record = orjson.loads(line) if line else None
        except orjson.JSONDecodeError:
            log.warning("a torn line in a settlement journal skipped")
            continue
        if record is None:
            continue
        if "d" in record:
            entries.pop(record["d"], None)
        else:
            j = decode(record["s"], record["l"])
            entries[j.debit.request_id] = j
    return list(entries.values())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Leftover:
    """A journal whose writer is gone, locked by this process while it replays it."""

    def __init__(self, path: Path, fd: int, entries: list[Journaled]) -> None:
        self.path = path
        self.fd = fd
        self.entries = entries

    def taken(self, request_id: str) -> None:
        """Redis took this one: a replay started over (this one stopped) skips it."""
        _write_all(self.fd, orjson.dumps({"d": request_id}) + b"\n")

    def finish(self) -> None:
        """Every settlement in it taken: gone, then unlocked."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)

    def release(self) -> None:
        """Unlocked as it is, for the next round (or another process) to go on with."""
        os.close(self.fd)


class SettleJournal:
    def __init__(self, directory: Path, store: HotStore) -> None:
        self.directory = directory
        self.store = store
        self.written = 0  # settlements journaled by this process
        self._fd: int | None = None
        self._path: Path | None = None
        self._pending: set[str] = set()  # journaled, and Redis has not taken them yet
        self._lines: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, j: Journaled) -> None:
        """Append `j`; returns once it is fsynced (with whatever else was appended meanwhile:
        one fsync for every settlement waiting). JournalUnavailable if the disk refused."""
        done = asyncio.get_running_loop().create_future()
        if j.lease is None:
            d = j.debit
            lease = self.store.leases.append_again_form(d.request_id, d.settlement)
            j = Journaled(d, j.key_id, lease)
        self._pending.add(j.debit.request_id)
        self._queue(encode(j), done)
        await done

    def taken(self, request_id: str) -> None:
        """Redis took a journaled settlement: marked, so no replay needs to look at it; a
        file whose settlements were all taken is emptied."""
        if request_id in self._pending:
            self._pending.discard(request_id)
            self._queue(orjson.dumps({"d": request_id}) + b"\n", None)

    def _queue(self, line: bytes, done: asyncio.Future[None] | None) -> None:
        self._lines.append(line)
        if done is not None:
            self._waiters.append(done)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._lines:
                data, waiters = b"".join(self._lines), self._waiters
                self._lines, self._waiters = [], []
                try:
                    await asyncio.to_thread(self._append, data, not self._pending)
                except OSError as exc:
                    log.error("the settlement journal refused a write: %r", exc)
                    for w in waiters:
                        if not w.done():
                            w.set_exception(JournalUnavailable(repr(exc)))
                    continue
                self.written += len(waiters)
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
        finally:
            self._flushing = None

    def _append(self, data: bytes, empty: bool) -> None:
        """In a thread: `data` appended and fsynced; or, when nothing is pending any more
        (`empty`: every settlement in the file was taken), the file emptied instead."""
        if self._fd is None:
            self._fd, self._path = self._open_own()
        if empty:
            os.ftruncate(self._fd, 0)
            return
        _write_all(self._fd, data)
        os.fsync(self._fd)

    def _open_own(self) -> tuple[int, Path]:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        making = self.directory / f"{name}.tmp"
        fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = self.directory / f"{name}{SUFFIX}"
        making.rename(path)
        _fsync_dir(self.directory)
        return fd, path

    async def close(self) -> None:
        """At a stop: a journal with nothing pending is removed; one still holding
        settlements stays for the next start's replay."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
        fd, path = self._fd, self._path
        self._fd = self._path = None
        if fd is None or path is None:
            return
        if not self._pending:
            path.unlink(missing_ok=True)
        else:
            log.warning("%d settlements left in %s for the next replay", len(self._pending), path)
        os.close(fd)

    async def leftovers(self) -> list[Leftover]:
        """The journals of processes that are gone, each locked for this one."""
        return await asyncio.to_thread(self._claim_all)

    def _claim_all(self) -> list[Leftover]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path != self._path and (leftover := _claim(path)) is not None:
                found.append(leftover)
        return found

    async def resettle(self, j: Journaled) -> int:
        """Settle a journaled settlement again, as settle does: a call admitted under a lease
        is appended to its lease unless Redis has it (DEBITED), or CLOSED when the lease was
        closed without it; any other is settled by request id (CLOSED once it was)."""
        d = j.debit
        if j.lease is None:
            return await self.store.settle(d.shard, d.account_id, d.request_id, d.settlement)
        lease_id, stream, seen, entry = j.lease
        runs = self.store.leases.runs
        appended = await runs.append_again(d.shard, lease_id, stream, seen, d.request_id, entry)
        return DEBITED if appended else CLOSED


def _claim(path: Path) -> Leftover | None:
    """The journal at `path` locked for this process, or None: its writer lives, or a
    replayer unlinked it after this one found it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)
        return Leftover(path, fd, read(fd))
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None


def _fsync_dir(directory: Path) -> None:
    """The new name made durable: a file fsynced under a name not yet on disk is lost."""
    fd = os.open(directory, os.O_RDONLY)
    with contextlib.suppress(OSError):
        os.fsync(fd)
    os.close(fd)
