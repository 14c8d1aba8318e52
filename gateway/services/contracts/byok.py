"""Bring your own key (docs/guides/byok.md): customers' own provider keys, kept decrypted in
each gateway process, so a proxied call finds its key with a dict lookup: no PostgreSQL wait
and no Redis round trip of its own.

Keys are stored only as AES-256-GCM ciphertext under BYOK_ENCRYPTION_KEY, bound to their
account and upstream (the associated data), so a row copied to another account does not
decrypt. Every process reads them whole on a clock (BYOK_REFRESH_S), and the process that
changed one at once. A change also bumps the account's BYOK version, written to its hot
record (`bk`), which reserve.lua hands back with every admission in the round trip it
already makes: a process whose copy is older than that version refuses the call with a
retryable 503 (`ByokKeysLoading`) and reads the keys again, so a call is never sent with the
operator's key (nor billed list price) for an account that stored its own, nor with a key
the account removed. A key that does not decrypt (the encryption key was changed) stays
known as the account's: its calls are refused until the key is stored again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from billing.pricing.byok import NO_FEE, ByokFee, hint
from billing.values import replace
from gateway.errors import ByokKeyRejected, ByokNotSetUp, InvalidRequest
from gateway.llm.reading.calls import Call
from gateway.stores.errors import StoreError
from gateway.stores.ports import HotStorePort
from gateway.stores.ports.contracts.byok import ByokPort

log = logging.getLogger("meterway.byok")
NONCE_BYTES = 12
# The wires whose credential is an API key a customer can hold: OpenAI's and Anthropic's
# (and every compatible host), Azure's api-key and the Gemini API's. Bedrock's SigV4 and
# Vertex's OAuth tokens are the operator's cloud identity, never a customer's.
KEYED_WIRES = frozenset({"openai", "anthropic", "azure", "gemini"})
UNREADABLE = ""  # a stored key that did not decrypt: known, never sent
REJECTED_EVENT = "byok.rejected"


def _aad(account_id: str, upstream: str) -> bytes:
    return f"{account_id}\x00{upstream}".encode()


def seal(key: bytes, account_id: str, upstream: str, plaintext: str) -> bytes:
    """The stored form of a key: a fresh nonce, then AES-GCM's ciphertext and tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), _aad(account_id, upstream))


def unseal(key: bytes, account_id: str, upstream: str, sealed: bytes) -> str | None:
    """The key `seal` stored, or None when it does not decrypt under `key` for this row."""
    try:
        plain = AESGCM(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(account_id, upstream)
        )
    except (InvalidTag, ValueError):
        return None
    return plain.decode()


class ByokKeys:
    """The process's copy of every account's own keys, their versions and the fee."""

    def __init__(
        self, port: ByokPort, store: HotStorePort, key: bytes, notify_window_s: int
    ) -> None:
        self._port = port
        self._store = store
        self._key = key
        self._window_s = notify_window_s
        self._keys: dict[str, dict[str, str]] = {}  # account -> upstream -> key
        self._versions: dict[str, int] = {}
        self.fee: ByokFee = NO_FEE
        self._reading: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._local = 0  # changes made by this process, counted
        self._told: set[tuple[str, str]] = set()  # keys logged as not decrypting

    def keys_of(self, account_id: str) -> Mapping[str, str] | None:
        """The account's own keys by upstream (None: it stored none, as far as this process
        knows)."""
        return self._keys.get(account_id)

    def version_of(self, account_id: str) -> int:
        """The version of the account's keys this process holds (0: none known)."""
        return self._versions.get(account_id, 0)

    def read_soon(self) -> None:
        """The hot store knows a newer change than this process: read again, off the call."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.get_running_loop().create_task(self._read_quietly())

    def applied(self, account_id: str, call: Call) -> Call:
        """`call` as the account's own key serves it: kept to the upstreams it holds a key
        for and charged the platform fee; unchanged when it holds none of them."""
        keys = self._keys.get(account_id)
        if keys is None:
            return call
        pinned = call.pinned(frozenset(u for u, k in keys.items() if k != UNREADABLE))
        if pinned is not None:
            if call.body.get("background") is True:
                raise InvalidRequest(
                    "A background response is not served with your own provider key (it "
                    "is settled later, at the list price); send it in the foreground, or "
                    "remove your key for this upstream.",
                    param="background",
                )
            return replace(pinned, byok=self.fee)
        if call.pinned(frozenset(keys)) is not None:  # held, but it does not decrypt
            raise ByokKeyRejected(
                "Your own provider key for this model's upstream could not be read here; "
                "store it again (PUT /v1/account/byok/{upstream}). Nothing was sent or billed."
            )
        return call

    async def refresh(self) -> None:
        """Read every key, version and the fee again (a clock's round, or a process behind).
        A change made here while a read was under way is read again after it, so an older
        read never undoes it."""
        seen = self._local
        stored, versions, fee = await self._port.everything()
        if seen != self._local:
            stored, versions, fee = await self._port.everything()
        keys: dict[str, dict[str, str]] = {}
        for row in stored:
            plain = unseal(self._key, row.account_id, row.upstream, row.ciphertext)
            if plain is None and (row.account_id, row.upstream) not in self._told:
                self._told.add((row.account_id, row.upstream))  # once a process, not a round
                log.error(
                    "the stored key of account %s for %s does not decrypt with "
                    "BYOK_ENCRYPTION_KEY; its calls are refused until it is stored again",
                    row.account_id,
                    row.upstream,
                )
            keys.setdefault(row.account_id, {})[row.upstream] = plain or UNREADABLE
        self._keys, self._versions = keys, versions
        self.fee = NO_FEE if fee is None else ByokFee(*fee)

    async def _read_quietly(self) -> None:
        try:
            await self.refresh()
        except StoreError as exc:
            log.warning("own provider keys not read: %s", exc)

    async def store(self, account_id: str, upstream: str, plaintext: str) -> str:
        """Keep an account's key for `upstream`, in effect here at once and in every process
        within BYOK_REFRESH_S (before that, refused there as loading); its hint."""
        if not self._key:
            raise ByokNotSetUp(
                "This gateway stores no own provider keys: its operator has not set "
                "BYOK_ENCRYPTION_KEY."
            )
        shown = hint(plaintext)
        sealed = seal(self._key, account_id, upstream, plaintext)
        version = await self._port.put(account_id, upstream, sealed, shown)
        self._local += 1
        self._keys[account_id] = {**self._keys.get(account_id, {}), upstream: plaintext}
        await self._changed(account_id, version)
        return shown

    async def remove(self, account_id: str, upstream: str) -> bool:
        """Forget an account's key for `upstream`; False when it had none."""
        version = await self._port.remove(account_id, upstream)
        if version is None:
            return False
        self._local += 1
        left = {u: k for u, k in self._keys.get(account_id, {}).items() if u != upstream}
        if left:
            self._keys[account_id] = left
        else:
            self._keys.pop(account_id, None)
        await self._changed(account_id, version)
        return True

    async def _changed(self, account_id: str, version: int) -> None:
        self._versions[account_id] = version
        await self._store.set_byok_version(account_id, version)

    async def set_fee(self, fee: ByokFee) -> ByokFee | None:
        """Set the platform fee (here at once, elsewhere within BYOK_REFRESH_S); the one
        it replaced. A call admitted before keeps the fee it was reserved at."""
        old = await self._port.set_fee(fee.bps, fee.fixed_micros)
        self._local += 1
        self.fee = fee
        return None if old is None else ByokFee(*old)

    def rejected_later(self, account_id: str, upstream: str) -> None:
        """The provider refused the account's key: mark it failing and tell its owner (once
        a BYOK_NOTIFY_WINDOW_S), off the call's path."""
        key = self._keys.get(account_id, {}).get(upstream, "")
        task = asyncio.get_running_loop().create_task(
            self._rejected(account_id, upstream, hint(key) if key else "")
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rejected(self, account_id: str, upstream: str, shown: str) -> None:
        try:
            await self._port.rejected(account_id, upstream, shown, self._window_s, REJECTED_EVENT)
        except StoreError as exc:
            log.warning("a refused own key of %s not recorded: %s", account_id, exc)
