"""The relying party's pure parts: PKCE's S256 challenge and client_secret_basic."""

from __future__ import annotations

import base64

from gateway.outbound.sign_in.oidc_client import Attempt, basic_auth, challenge_of


def test_the_challenge_is_rfc_7636s_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636, appendix B
    assert challenge_of(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_each_attempt_has_fresh_secrets_of_pkce_length() -> None:
    a, b = Attempt.new(), Attempt.new()
    assert len({a.state, a.nonce, a.verifier, b.state, b.nonce, b.verifier}) == 6
    assert 43 <= len(a.verifier) <= 128  # RFC 7636 4.1


def test_basic_auth_form_encodes_each_part_first() -> None:
    header = basic_auth("my client", "p@ss:word")
    assert base64.b64decode(header.removeprefix("Basic ")) == b"my+client:p%40ss%3Aword"
