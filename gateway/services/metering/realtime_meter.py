"""A Realtime session's reservations: one hold per response, taken before it may start.

Each response (a client's `response.create`, or a turn the provider's voice detection
starts) is reserved at its worst case through `Meter.admit` (the same `reserve.lua` as an
HTTP call) before the event that starts it is forwarded, bound to the provider's response
id when `response.created` arrives, and settled from `response.done`'s usage through
`Meter.settle` (the same `settle.lua`, the same cap). A session's holds never outlive it:
`close` settles what a response produced when the provider never finished it, and releases
the holds no response took.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from billing.metering.realtime import KINDS, TRANSCRIPT_CAP, Conversation, produced_usage
from billing.metering.usage import Usage
from billing.pricing import ModelPrice
from gateway.llm.endpoints import REALTIME
from gateway.llm.reading.calls import Call
from gateway.services.money.meter.metering import Meter
from gateway.services.money.settlement import Hold
from gateway.stores.records import KeyRecord

log = logging.getLogger("meterway.realtime")
# Holds a session may have at once: the response being made and the next one (a voice turn
# that interrupts it). A client asking for a third is answered by the gateway, unforwarded.
MAX_HOLDS = 2


@dataclass(slots=True)
class ResponseHold:
    """One response's reservation, and what the gateway saw it produce."""

    hold: Hold
    call: Call
    added_at_hold: int  # the conversation's estimated additions it covers
    text_bytes: int = 0  # output text relayed (a token is at least one byte)
    audio_tokens: int = 0  # output audio relayed, estimated from its bytes
    in_band: bool = True  # its answer joins the conversation (conversation "none": not)
    hold_for_create: bool = False  # taken for a client's response.create (not a voice turn)
    event_id: str = ""  # that response.create's event_id ('' : it named none)


@dataclass(slots=True)
class SessionMeter:
    """The holds of one session; `request_id` prefixes each reservation's own id."""

    meter: Meter
    key: KeyRecord
    price: ModelPrice | None  # None: a transcription session, which makes no responses
    request_id: str
    conversation: Conversation = field(default_factory=Conversation)
    unbound: deque[ResponseHold] = field(default_factory=deque)
    bound: dict[str, ResponseHold] = field(default_factory=dict)
    transcripts: dict[str, ResponseHold] = field(default_factory=dict)  # by item id
    turns: int = 0

    @property
    def holds(self) -> int:
        """Responses held: made, or asked for and not yet started."""
        return len(self.unbound) + len(self.bound)

    @property
    def pending(self) -> bool:
        """Anything held the provider may still bill: read on for it."""
        return bool(self.unbound or self.bound or self.transcripts)

    async def hold_next(
        self,
        max_output_tokens: int,
        own_tokens: int = 0,
        *,
        in_band: bool = True,
        event_id: str = "",
        created: bool = False,
    ) -> None:
        """Reserve the next response's worst case: the conversation so far plus what its
        `response.create` brings of its own (instructions, input items, tools) and its
        output cap, every token at its dearest kind (audio). An out-of-band response reads
        the conversation too (unless its own input replaces it, which `own_tokens` then
        bounds alike). Raises the refusal a client sees."""
        assert self.price is not None, "a transcription session makes no responses"
        tokens = self.conversation.input_tokens + own_tokens
        added = self.conversation.added
        held = await self._hold(self.price, tokens, max_output_tokens, added)
        held.in_band, held.event_id = in_band, event_id
        held.hold_for_create = created
        self.unbound.append(held)

    def rejected(self, event_id: str) -> bool:
        """The provider refused the response.create `event_id` (an `error` naming it): its
        hold is released, so it neither blocks the next response nor outlives the refusal.
        An error naming no event releases the one response.create held without an id, when
        it is the only hold and no response is being made (nothing else it could be)."""
        for held in self.unbound:
            if held.hold_for_create and held.event_id == event_id:
                if not event_id and (len(self.unbound) > 1 or self.bound):
                    return False
                self.unbound.remove(held)
                self._release(held)
                return True
        return False

    async def hold_transcript(self, item_id: str, price: ModelPrice, audio_tokens: int) -> None:
        """Reserve a committed item's transcript (input audio transcription, billed by its
        own model): its audio plus TRANSCRIPT_CAP, settled from its `completed` event."""
        self.transcripts[item_id] = await self._hold(price, audio_tokens, TRANSCRIPT_CAP, 0)

    def transcript_failed(self, item_id: str) -> None:
        """Nothing is billed for a transcript that failed."""
        held = self.transcripts.pop(item_id, None)
        if held is not None:
            self._release(held)

    async def transcribed(self, item_id: str, usage: Usage | None) -> int | None:
        """Settle a transcript from its `completed` event's usage (else its audio as held)."""
        held = self.transcripts.pop(item_id, None)
        if held is None:
            log.warning("transcript %s without a hold in %s", item_id, self.request_id)
            return None
        return await self._settle(held, usage or self._counted(held))

    async def _hold(
        self, price: ModelPrice, input_tokens: int, max_output_tokens: int, added: int
    ) -> ResponseHold:
        self.turns += 1
        call = Call(
            endpoint=REALTIME,
            price=price,
            body={},
            stream=True,
            client_wants_usage=False,
            input_tokens=input_tokens,
            max_output_tokens=max_output_tokens,
            kinds=KINDS,
        )
        admitted, call = await self.meter.admit(f"{self.request_id}.{self.turns}", self.key, call)
        hold = Hold(admitted, forwarded=True)
        self.meter.settlements.open(hold)
        return ResponseHold(hold, call, added)

    def drop_unbound(self) -> None:
        """The event the newest hold was taken for was not forwarded (the session closes)."""
        if self.unbound:
            self._release(self.unbound.pop())

    def bind(self, response_id: str) -> bool:
        """The provider started a response: it takes the oldest hold. False: none was held
        (the caller ends the session rather than relay unheld output)."""
        if response_id in self.bound:
            return True
        if not self.unbound:
            return False
        self.bound[response_id] = self.unbound.popleft()
        return True

    def produced(self, response_id: str, text_bytes: int = 0, audio_tokens: int = 0) -> None:
        held = self.bound.get(response_id)
        if held is not None:
            held.text_bytes += text_bytes
            held.audio_tokens += audio_tokens

    async def done(self, response_id: str, usage: Usage | None) -> int | None:
        """Settle a finished response from the provider's usage (what was relayed when it
        reported none); its cost once Redis debited it."""
        held = self.bound.pop(response_id, None)
        if held is None:
            log.warning("response %s finished without a hold in %s", response_id, self.request_id)
            return None
        if usage is None:
            usage = self._counted(held)
        if held.in_band:  # an out-of-band answer is not the conversation's
            self.conversation.answered(usage, held.added_at_hold)
        return await self._settle(held, usage)

    async def close(self) -> None:
        """The session ended: a response the provider never finished is billed what it
        produced; holds no response took are released."""
        while self.unbound:
            self._release(self.unbound.popleft())
        for unfinished in (self.bound, self.transcripts):
            for held in list(unfinished.values()):
                try:
                    await self._settle(held, self._counted(held))
                except Exception:  # one hold that cannot settle leaves the others settled
                    log.exception("settling %s at the end of %s", held.hold, self.request_id)
            unfinished.clear()

    def _counted(self, held: ResponseHold) -> Usage:
        return produced_usage(held.call.input_tokens, held.text_bytes, held.audio_tokens)

    async def _settle(self, held: ResponseHold, usage: Usage) -> int | None:
        # Its own task: the settlement's answer budget cancels the task it runs in, and the
        # session's relay must not be that task.
        # Shielded: a relay cancelled meanwhile leaves it running.
        return await asyncio.shield(self.meter.tasks.spawn(self._settle_in_task(held, usage)))

    async def _settle_in_task(self, held: ResponseHold, usage: Usage) -> int | None:
        held.hold.task = asyncio.current_task()
        try:
            return await self.meter.settle(held.hold, held.call, usage)
        finally:
            self.meter.settlements.let_go(held.hold)

    def _release(self, held: ResponseHold) -> None:
        self.meter.settlements.let_go(held.hold)
        self.meter.release_later(held.hold.admitted, forwarded=False)
