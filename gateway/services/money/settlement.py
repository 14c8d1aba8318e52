# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Holding a reservation while its request is served, and settling it whatever Redis does.

Kept whole: one state machine (hold, settle, retry, rebook) whose every path must meet the
same guarantees; split, its cases would hide from each other.

- While a request is served its reservation is kept alive (a heartbeat pushes the deadline),
  so the sweeper never voids a slow reader's stream. One timer beats for every hold in the
  process, rather than a task and a timer created and cancelled on every request.
- A completed upstream call is never voided. Its settlement runs in a task the registry
  owns; the handler waits only until the settle's command is written to Redis's socket
  (or, where the store cannot tell, for the reply, up to a short budget), then answers with
  the cost (the priced usage under the charge cap). The task awaits Redis's reply and keeps
  retrying after the answer went out, and a clean stop writes what is
  still unsettled to PostgreSQL, where the sweeper turns it into a debit once Redis is back.
  The settle script is idempotent, so a retry of a debit whose first reply was cut off
  debits nothing more; a reservation Redis lost is debited late from what is free
  (`Rebook`, services/money/lost_debits.py), so what was shown is always what was settled.
- With a journal (every served gateway), the answer waits for Redis's reply instead: a settle
  not sent within ANSWER_BUDGET_S, or sent and not answered within REPLY_BUDGET_S, is
  appended to the local journal (stores/journal.py) and fsynced before the answer goes out,
  since a command handed to the kernel is not one Redis took (a connection that passes no
  bytes takes it all the same). Its retries go on, and mark it taken when Redis answers; the
  journals of processes that died are replayed (`replay`, workers/journal_replay.py).
- Once settlement started nothing releases the reservation: release is only for calls whose
  settlement never began.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, final

from billing.money.admission import Admitted
from gateway.services.registry import TaskRegistry
from gateway.stores.errors import HotStoreUnavailable, JournalUnavailable, StoreUnavailable
from gateway.stores.ports import Reservations
from gateway.stores.ports.hot import CLOSED, LOW_BALANCE, SETTLE_SENT, UNCOLLECTED
from gateway.stores.records import Journaled, PendingDebit, Settlement
from gateway.telemetry import metrics

log = logging.getLogger("meterway.settlement")
ANSWER_BUDGET_S = 1.5  # how long a client waits for its cost before getting the answer without
REPLY_BUDGET_S = 0.25  # with a journal: a settle sent and not answered for this is journaled
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
Spool = Callable[[list[PendingDebit]], Awaitable[None]]


class Journal(Protocol):
    """The local settlement journal (stores/journal.py)."""

    async def write(self, j: Journaled) -> None:
        """Appended and fsynced: a process killed now still has it replayed (a call admitted
        under a lease with its lease's append, which the journal asks the store for)."""
        ...

    def taken(self, request_id: str) -> None:
        """Redis took a journaled settlement: no replay needs it."""
        ...

    async def resettle(self, j: Journaled) -> int:
        """Settle it again as `Reservations.settle` does, from any process (its lease's
        append again for a leased call): a settlement Redis has already changes nothing."""
        ...


class Rebook(Protocol):
    """Debiting a call whose reservation Redis lost (services/money/lost_debits.py)."""

    async def recorded(self, p: PendingDebit) -> bool:
        """Whether the request's debit is queued, parked or written already."""
        ...

    async def entomb(self, p: PendingDebit, key_id: str) -> None:
        """Leave the tombstone the next settle debits late from."""
        ...


@final
class Hold:
    """One admitted request while it is served; `settling` once its settlement has begun."""

    def __init__(
        self,
        admitted: Admitted,
        settling: bool = False,
        forwarded: bool = False,
        task: asyncio.Task[Any] | None = None,
        resettle: bool = False,
        settled: Settlement | None = None,
    ) -> None:
        self.admitted = admitted
        self.settling = settling
        self.forwarded = forwarded  # the request reached the provider: it counts in request windows
        # The task serving it, from `Settlements.open`: its settlement's answer budget cancels
        # that task. Kept, because on Python 3.11 asyncio.current_task() costs a getpid()
        # system call (get_running_loop's fork check).
        self.task = task
        # A background response may be seen finished twice (a retrieve and the poller): the
        # second settle finds the reservation closed by the first, which is not a loss.
        self.resettle = resettle
        # The settlement debited (Meter._debit): what the answer's receipt states.
        self.settled = settled


class _Budget:
    """`asyncio.timeout_at` for the settlement's answer budget at under half its cost (it is
    entered on every proxied request): one timer handle that cancels the task at the
    deadline, and the standard library's rule for telling that cancel from any other."""

    __slots__ = ("_cancelling", "_expired", "_handle", "_task")

    def __init__(self, task: asyncio.Task[Any], deadline: float) -> None:
        self._task = task
        self._cancelling = task.cancelling()  # cancels already asked for are not ours
        self._expired = False
        self._handle = task.get_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    def ran_out(self) -> bool:
        """On a CancelledError: whether it is this budget's alone (then it is undone, as
        asyncio.Timeout undoes its own), rather than a cancel the caller must see."""
        if not self._expired:
            return False
        self._expired = False
        return self._task.uncancel() <= self._cancelling

    def stop(self) -> None:
        self._handle.cancel()
        if self._expired:  # fired, but the awaited call finished first: take the cancel back
            self._expired = False
            self._task.uncancel()


class Settlements:
    def __init__(
        self,
        store: Reservations,
        registry: TaskRegistry,
        *,
        refresh_s: float,
        spool: Spool | None = None,
        rebook: Rebook | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.store = store
        self.journal = journal  # None: the answer waits for the settle to be sent, no more
        self._journaled: set[str] = set()  # journaled, not yet taken by Redis
        self.rebook = rebook  # None: a lost reservation's usage goes undebited (and shown no cost)
        self.registry = registry
        self.refresh_s = refresh_s
        self.spool = spool
        # Called with the account id when a debit left its balance under the auto top-up
        # threshold (settle.lua says so): no read of the threshold after every settlement.
        self.on_low_balance: Callable[[str], None] | None = None
        # Told what a debit could not collect (the trace's span says it:
        # http/observability/tracer.py).
        self.on_uncollected: Callable[[str, int], None] | None = None
        # Told that Redis answered a debit (its span waits for that: http/observability/tracer.py).
        self.on_answered: Callable[[str], None] | None = None
        self._unsettled: dict[str, PendingDebit] = {}
        self._live: dict[str, Admitted] = {}  # holds the heartbeat keeps alive
        # The task serving each hold, which a stop waits for (see drain). Not kept in _live:
        # the heartbeat drops a hold whose reservation closed under it (a sweeper voided
        # it), and its handler may still deliver output that a late settle debits.
        self._serving: dict[str, asyncio.Task[Any]] = {}
        self._beat: asyncio.TimerHandle | None = None

    def open(self, hold: Hold) -> None:
        """Keep the reservation alive from now until `let_go`: every hold alive at a beat is
        extended, so none waits longer than refresh_s for its first or next extension."""
        admitted = hold.admitted
        self._live[admitted.request_id] = admitted
        task = hold.task = asyncio.current_task()
        if task is not None:
            self._serving[admitted.request_id] = task
        if self._beat is None:
            self._beat = asyncio.get_running_loop().call_later(self.refresh_s, self._tick)

    def let_go(self, hold: Hold) -> None:
        self._live.pop(hold.admitted.request_id, None)
        self._serving.pop(hold.admitted.request_id, None)

    def _tick(self) -> None:
        """The heartbeat: extend every live hold, then beat again while any is left."""
        self._beat = None
        if not self._live:
            return
        self.registry.spawn(self._extend(list(self._live.values())))
        self._beat = asyncio.get_running_loop().call_later(self.refresh_s, self._tick)

    async def _extend(self, held: list[Admitted]) -> None:
        replies = await asyncio.gather(
            *(self.store.extend(a.shard, a.request_id) for a in held), return_exceptions=True
        )
        for a, reply in zip(held, replies, strict=True):
            if isinstance(reply, HotStoreUnavailable):
                log.warning("could not extend reservation %s: %s", a.request_id, reply)
            elif isinstance(reply, BaseException):
                raise reply
            elif not reply:  # closed (settled, or voided by a sweeper): stop extending it
                self._live.pop(a.request_id, None)

    async def settle(self, hold: Hold, settlement: Settlement) -> bool | None:
        """Start settling (nothing can stop it now): True if Redis debited it in time, False
        if it is still being settled, None if it never will be (Redis lost the reservation).

        With a `Rebook` (every served gateway) the settle runs in a task of the registry and
        the caller waits only until its command is handed to the kernel on its way to Redis
        (SETTLE_SENT), not for Redis's reply: the answer goes out after the settle, so a crash
        once the client has its answer finds the settle already sent, and what the answer
        shows is what the settle debits (a reservation Redis lost is debited late). Its reply
        is awaited in the task, which retries as below."""
        hold.settling = True
        a = hold.admitted
        pending = PendingDebit(a.request_id, a.account_id, a.shard, settlement)
        self._unsettled[a.request_id] = pending
        task = hold.task or asyncio.current_task()
        assert task is not None, "a settlement runs in a task"
        rebook = self.rebook
        if rebook is None:
            return await self._settle_waiting(hold, pending, settlement, task)
        loop = task.get_loop()
        sent: asyncio.Future[None] = loop.create_future()
        taken: asyncio.Future[bool] = loop.create_future()
        told = SETTLE_SENT.set(sent)  # the task copies the context: only it sees `sent`
        try:
            self.registry.spawn(self._settle_sent(hold, pending, settlement, sent, taken, rebook))
        finally:
            SETTLE_SENT.reset(told)
        budget = _Budget(task, loop.time() + ANSWER_BUDGET_S)
        try:
            await sent
            if self.journal is not None and not taken.done():
                budget.stop()
                budget = _Budget(task, loop.time() + REPLY_BUDGET_S)
                await taken
        except asyncio.CancelledError:
            if not budget.ran_out():
                raise
        finally:
            budget.stop()
        # A budget's cancel cancels the future it found awaited: then it was not taken.
        if self.journal is not None and not (
            taken.done() and not taken.cancelled() and taken.result()
        ):
            await self._journal(pending, hold.admitted.key_id)
        return False

    async def _journal(self, pending: PendingDebit, key_id: str) -> None:
        """The settle Redis did not take in time, appended to the journal and fsynced (or
        nothing, when Redis took it meanwhile); its retries go on."""
        journal, rid = self.journal, pending.request_id
        if journal is None or rid not in self._unsettled:
            return
        self._journaled.add(rid)
        try:
            await journal.write(Journaled(pending, key_id))
        except JournalUnavailable as exc:
            log.error("settle %s not journaled, its retries go on: %s", rid, exc)
        if rid not in self._unsettled:  # taken while it was written
            self._taken(rid)

    def _taken(self, request_id: str) -> None:
        if request_id in self._journaled and self.journal is not None:
            self._journaled.discard(request_id)
            self.journal.taken(request_id)

    async def _settle_sent(
        self,
        hold: Hold,
        pending: PendingDebit,
        settlement: Settlement,
        sent: asyncio.Future[None],
        taken: asyncio.Future[bool],
        rebook: Rebook,
    ) -> None:
        """`settle`'s task: its first try tells `sent` when the command is written (or, when
        the store cannot tell, when the try ends) and `taken` whether Redis took it; a failed
        try retries until Redis takes it."""
        key_id = hold.admitted.key_id
        took = False
        try:
            done = await self._settle_once(pending, settlement)
            if done == CLOSED and not hold.resettle:
                _vanished(pending)
                await rebook.entomb(pending, key_id)
                await self._settle_once(pending, settlement)  # its late debit
            took = True
            return
        except StoreUnavailable as exc:  # Redis, or PostgreSQL under a late debit's rebook
            log.warning("settle %s failed, retrying: %s", pending.request_id, exc)
        finally:
            if not sent.done():
                sent.set_result(None)
            if not taken.done():
                taken.set_result(took)
        await self._until_settled(pending, settlement, key_id, RETRY_FIRST_S)

    async def _settle_waiting(
        self, hold: Hold, pending: PendingDebit, settlement: Settlement, task: asyncio.Task[Any]
    ) -> bool | None:
        """`settle` without a `Rebook`: tried once in the handler, whose answer waits for
        Redis's reply (None when it says the reservation is gone) up to the answer budget."""
        a = hold.admitted
        loop = task.get_loop()
        deadline = loop.time() + ANSWER_BUDGET_S
        budget = _Budget(task, deadline)
        try:
            done = await self._settle_once(pending, settlement)
            if done == CLOSED and not hold.resettle:
                _vanished(pending)
                return None
            return True
        except HotStoreUnavailable as exc:
            log.warning("settle %s failed, retrying: %s", a.request_id, exc)
        except asyncio.CancelledError:
            self.registry.spawn(self._until_settled(pending, settlement, a.key_id))
            if budget.ran_out():
                return False
            raise
        finally:
            budget.stop()
        retried = self.registry.spawn(
            self._until_settled(pending, settlement, a.key_id, RETRY_FIRST_S)
        )
        try:
            await asyncio.wait_for(asyncio.shield(retried), max(deadline - loop.time(), 0.0))
        except TimeoutError:
            return False
        return True

    async def _settle_once(self, p: PendingDebit, settlement: Settlement) -> int:
        done = await self.store.settle(p.shard, p.account_id, p.request_id, settlement)
        self._unsettled.pop(p.request_id, None)
        if self._journaled:
            self._taken(p.request_id)
        if done & LOW_BALANCE and self.on_low_balance is not None:
            self.on_low_balance(p.account_id)
        if done >= UNCOLLECTED and self.on_uncollected is not None:
            self.on_uncollected(p.request_id, done // UNCOLLECTED)
        if self.on_answered is not None:
            self.on_answered(p.request_id)
        return done

    async def _until_settled(
        self,
        p: PendingDebit,
        settlement: Settlement,
        key_id: str,
        wait_s: float = 0.0,
        journaled: Journaled | None = None,
    ) -> None:
        """Retry until Redis takes it: first after `wait_s` (the handler's try just failed),
        then backing off from RETRY_FIRST_S up to RETRY_MAX_S. A retry that finds the
        reservation closed was either closed by the failed try or lost with Redis's data:
        lost when no debit of the request is queued or written, and then debited late.
        `journaled`: a dead process's settlement, whose first tries go through the journal
        (a leased call's append again) until one finds it closed."""
        delay = RETRY_FIRST_S
        if wait_s:
            await asyncio.sleep(wait_s)
            delay = min(wait_s * 2, RETRY_MAX_S)
        while True:
            try:
                if journaled is not None and self.journal is not None:
                    done = await self.journal.resettle(journaled)
                else:
                    done = await self._settle_once(p, settlement)
                if done != CLOSED or not await self._lost(p, key_id):
                    return
                journaled = None
                continue  # entombed: the next try debits it late
            except StoreUnavailable as exc:
                log.warning("settle %s failed, retrying in %.2fs: %s", p.request_id, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def replay(self, j: Journaled) -> None:
        """Settle a journaled settlement of a process that is gone, retried until Redis takes
        it: one Redis took already changes nothing (settle.lua closes a request id once;
        lease_settle.lua appends a request once, and a lease's close applies it once)."""
        await self._until_settled(j.debit, j.debit.settlement, j.key_id, journaled=j)

    def resettle(
        self, request_id: str, account_id: str, shard: int, key_id: str, settlement: Settlement
    ) -> None:
        """Settle again a debit Redis took and then lost before applying it (a lease's append
        under a lease it no longer has): as a retry that finds its reservation gone, it is
        debited late unless its debit is queued or written already."""
        pending = PendingDebit(request_id, account_id, shard, settlement)
        self._unsettled[request_id] = pending
        self.registry.spawn(self._until_settled(pending, settlement, key_id))

    async def _lost(self, p: PendingDebit, key_id: str) -> bool:
        """Whether a reservation found closed by a retry was lost (then it is entombed)."""
        if self.rebook is None or await self.rebook.recorded(p):
            return False
        _vanished(p)
        await self.rebook.entomb(p, key_id)
        return True

    async def drain(self, timeout_s: float) -> None:
        """Wait for in-flight work; what Redis still refuses is written down, not dropped.

        The first round waits for the registry's tasks and for the handlers still serving a
        hold, and cancels the handlers left (at a stop the server has already cancelled those
        that outlasted its wait, on the same budget): a cancelled handler settles what it
        delivered or releases the rest, in tasks of the registry. The second round gives those,
        and whatever else the registry still runs, 2 x ANSWER_BUDGET_S, then cancels them."""
        serving = set(self._serving.values())
        await self.registry.drain(timeout_s, also=serving)
        cut = [t for t in serving if not t.done()]
        for task in cut:
            if not task.cancelling():  # cancelled once is enough: let it clean up
                task.cancel()
        await asyncio.gather(*cut, return_exceptions=True)
        left = await self.registry.drain(2 * ANSWER_BUDGET_S)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        unsettled = list(self._unsettled.values())
        if not unsettled:
            return
        if self.spool is None:
            log.error("%d settlements lost at shutdown: %s", len(unsettled), unsettled)
            return
        await self.spool(unsettled)
        self._unsettled.clear()
        log.warning("%d unsettled debits recorded for the sweeper", len(unsettled))


def _vanished(p: PendingDebit) -> None:
    """A settle that finds the reservation closed with nothing of this call debited (a
    sweeper's void leaves a tombstone that a late debit still finds), so Redis lost the
    reservation (a restart without its data, a failover before replication): counted and
    told here, the one place that knows of it. With a `Rebook` the usage is then debited
    late from what is free (the rest uncollected); without one it goes undebited."""
    metrics().vanished.inc()
    log.error(
        "settle %s found no reservation (Redis lost it?): %d micros of delivered usage on"
        " account %s (%s, %s), debited late from what is free",
        p.request_id,
        p.settlement.cost_micros,
        p.account_id,
        p.settlement.model,
        p.settlement.usage,
    )
