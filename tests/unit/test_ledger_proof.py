"""The ledger's proof, pure: RFC 6962's Merkle tree, the leaf's form and its columns, the
checkpoint's head, and Ed25519 keys by their RFC 7638 thumbprints (RFC 8037's example)."""

from __future__ import annotations

import hashlib

import pytest

from billing.proof.ledger_proof import (
    GENESIS,
    LEAF_COLUMNS,
    Checkpoint,
    leaf_bytes,
    leaf_hash,
    merkle_root,
)
from gateway.config.proof import ProofSettings, proof_settings
from gateway.config.values import ConfigError
from gateway.services.proof.signing_keys import SigningKeys, b64url, new_seed, public_jwk, unb64url


def _rfc6962(leaves: list[bytes]) -> bytes:
    """MTH as RFC 6962 section 2.1 defines it: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc6962(leaves[:k]) + _rfc6962(leaves[k:])).digest()


@pytest.mark.parametrize("n", range(0, 34))
def test_the_root_is_rfc_6962s(n: int) -> None:
    leaves = [hashlib.sha256(b"\x00" + bytes([i])).digest() for i in range(n)]
    assert merkle_root(leaves) == _rfc6962(leaves)


def test_a_leaf_is_compact_json_and_any_change_changes_its_hash() -> None:
    values: list[int | str | None] = [None] * len(LEAF_COLUMNS)
    values[0], values[1], values[3] = 7, "acct_é", -1500
    assert leaf_bytes(values).startswith('[7,"acct_é",null,-1500,'.encode())
    base = leaf_hash(values)
    for at, other in ((3, -1501), (0, 8), (1, "acct_e"), (2, "")):
        changed = list(values)
        changed[at] = other
        assert leaf_hash(changed) != base
    with pytest.raises(ValueError, match="values"):
        leaf_bytes(values[:-1])


def test_reordering_two_leaves_changes_the_root() -> None:
    a, b, c = (hashlib.sha256(bytes([i])).digest() for i in range(3))
    assert merkle_root([a, b, c]) != merkle_root([b, a, c])


def test_every_field_of_a_checkpoint_is_in_its_head() -> None:
    cp = Checkpoint(seq=3, after_id=10, last_id=20, entries=9, root="ab" * 32, prev_head=GENESIS)
    heads = {cp.head()}
    for change in (
        {"seq": 4}, {"after_id": 11}, {"last_id": 21}, {"entries": 10},
        {"root": "cd" * 32}, {"prev_head": "1" * 64}, {"version": 2},
    ):  # fmt: skip
        heads.add(Checkpoint(**{**cp.__dict__, **change}).head())
    assert len(heads) == 8


def test_the_kid_is_rfc_8037s_thumbprint() -> None:
    """RFC 8037 appendix A.3: this public key's RFC 7638 thumbprint."""
    x = unb64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    assert public_jwk(x)["kid"] == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_a_retired_key_still_verifies_and_a_changed_byte_fails() -> None:
    old = ProofSettings(signing_seed=unb64url(new_seed()))
    kid, signature = SigningKeys(old).sign(b"head") or ("", "")
    rotated = SigningKeys(
        ProofSettings(
            signing_seed=unb64url(new_seed()), retired_keys=(SigningKeys(old).public_key(),)
        )
    )
    assert rotated.current_kid != kid
    assert rotated.verify(kid, b"head", signature) is True
    assert rotated.verify(kid, b"heaD", signature) is False
    flipped = bytearray(unb64url(signature))
    flipped[5] ^= 1
    assert rotated.verify(kid, b"head", b64url(bytes(flipped))) is False
    assert [k["kid"] for k in rotated.jwks()["keys"]] == [rotated.current_kid, kid]
    assert SigningKeys(ProofSettings()).verify(kid, b"head", signature) is None
    assert SigningKeys(ProofSettings()).sign(b"head") is None


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("LEDGER_SIGNING_KEY", "short", "base64url"),
        ("LEDGER_SIGNING_KEY", b64url(b"k" * 16), "32 bytes"),
        ("LEDGER_SIGNING_KEY", "a" * 43 + "!", "base64url"),
        ("LEDGER_VERIFY_KEYS", b64url(b"x" * 32) + ",abc", "32 bytes"),
    ],
)
def test_a_key_that_is_not_32_bytes_of_base64url_fails_the_boot(
    name: str, value: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=f"{name}.*{words}"):
        proof_settings({name: value}.get)


def test_the_settings_read_a_seed_and_retired_keys() -> None:
    seed, retired = new_seed(), b64url(b"k" * 32)
    got = proof_settings({"LEDGER_SIGNING_KEY": seed, "LEDGER_VERIFY_KEYS": retired}.get)
    assert got.signing_seed == unb64url(seed) and got.retired_keys == (b"k" * 32,)
    assert seed not in repr(got)
