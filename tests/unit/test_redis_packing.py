"""The lean Redis client's packing gives the bytes hiredis's own packer gives (the RESP a
Redis server reads), whatever the arguments: ASCII or not, ints of any size and sign, bytes,
floats, lengths past the tables, and key names taken from the memo after it starts over."""

from __future__ import annotations

from typing import Any

import hiredis
import pytest

from gateway.build import COMPILED
from gateway.stores.redis.wire import packing
from gateway.stores.redis.wire.packing import pack, pack_evalsha, pack_evalsha_hiredis

SHA = "0123456789abcdef0123456789abcdef01234567"
KEYS = ("mw:{3}:acct:acc_1", "mw:{3}:key:key_1", "mw:{3}:res", "mw:{3}:c:minute:acc_1:29")
CASES: list[tuple[Any, ...]] = [
    ("req_1", "acc_1", "key_1", 1, 25, 4096, 123_456, 0, "600000", "0", "mw:{3}:", ""),
    ("", -1, 0, 2**64, -(2**70), "x" * 1023, "y" * 1024, "z" * 70_000),
    ("crème", "naïve user", "😀", 5),
    (b"\x00\xffraw", "text", 3),
    (1.5, "after a float", 0.1, -2.0),
]


def _hiredis(args: tuple[Any, ...]) -> bytes:
    return bytes(hiredis.pack_command(args))


@pytest.mark.parametrize("args", CASES)
def test_a_command_packs_as_hiredis_packs_it(args: tuple[Any, ...]) -> None:
    assert pack(args) == _hiredis(args)


@pytest.mark.parametrize("args", CASES)
@pytest.mark.parametrize("packer", [pack_evalsha, pack_evalsha_hiredis])
def test_a_script_call_packs_as_hiredis_packs_it(packer: Any, args: tuple[Any, ...]) -> None:
    for keys in (KEYS, (), ("clé:non-ascii", *KEYS)):
        assert packer(SHA, keys, args) == _hiredis(("EVALSHA", SHA, len(keys), *keys, *args))


def test_each_build_packs_script_calls_with_its_cheaper_packer() -> None:
    """The compiled module packs them itself; as Python, hiredis does."""
    compiled = not packing.__file__.endswith(".py")
    assert COMPILED is compiled  # the one flag says what this compiled module is
    assert packing.pack_script_call is (pack_evalsha if compiled else pack_evalsha_hiredis)
    assert pack_evalsha_hiredis(SHA, KEYS, (None,)) == pack_evalsha(SHA, KEYS, ("None",))


def test_more_arguments_than_the_count_table_holds() -> None:
    args = tuple(range(packing.SIZES + 5))
    assert pack(args) == _hiredis(args)
    keys = tuple(f"k{i}" for i in range(packing.SIZES))
    assert pack_evalsha(SHA, keys, (1,)) == _hiredis(("EVALSHA", SHA, len(keys), *keys, 1))


def test_types_hiredis_refuses_pack_as_their_text() -> None:
    """A bool or None is not sent by Meterway's scripts; if one were, it is its str()."""
    assert pack(("SET", "k", True, None)) == _hiredis(("SET", "k", "True", "None"))


def test_the_memo_starts_over_when_full_and_packs_the_same() -> None:
    want = _hiredis(("EVALSHA", SHA, len(KEYS), *KEYS, 7))
    assert pack_evalsha(SHA, KEYS, (7,)) == want
    for i in range(packing.MEMO_SIZE + 1):  # one name a call: the memo fills and starts over
        pack_evalsha(SHA, (f"mw:{{0}}:voided:req_{i}",), ())
    assert len(packing._memo) <= packing.MEMO_SIZE
    assert pack_evalsha(SHA, KEYS, (7,)) == want
