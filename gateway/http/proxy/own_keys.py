"""A proxied call and the account's own provider keys (services/contracts/byok.py): which key it is
sent with and what it is charged, decided from the process's copy, with no round trip."""

from __future__ import annotations

from billing.money.admission import Admitted
from gateway.errors import ByokKeyRejected, ByokKeysLoading
from gateway.http.appkeys import Proxying
from gateway.llm.http1 import Answer
from gateway.llm.providers import BYOK_KEYS
from gateway.llm.reading.calls import Call

REJECTED_STATUSES = frozenset({401, 403})


def with_own_keys(p: Proxying, account_id: str, call: Call) -> tuple[Call, int]:
    """Before admission: the call kept to the upstreams the account holds its own key for
    and charged the platform fee, and those keys set for this task's sending; with the
    version of the account's keys this was decided on."""
    byok = p.byok
    if byok is None:
        return call, 0
    seen = byok.version_of(account_id)
    own = byok.applied(account_id, call)
    if own.byok is not None:
        BYOK_KEYS.set(byok.keys_of(account_id))
    return own, seen


def check_own_keys(p: Proxying, admitted: Admitted, seen: int) -> None:
    """After admission: refuse (and release) a call decided on an older version of the
    account's keys than the hot store holds (`bk`: another process changed them), rather
    than send it with the wrong key or price; this process reads them again meanwhile."""
    byok = p.byok
    if byok is not None and admitted.byok_version > seen:
        if admitted.byok_version > byok.version_of(admitted.account_id):
            byok.read_soon()
        p.meter.release_later(admitted)
        raise ByokKeysLoading(
            "Your own provider keys changed a moment ago and this gateway is still "
            "reading them; nothing was sent or billed. Retry in a second.",
            retry_after_s=1,
        )


def own_key_refused(p: Proxying, call: Call, admitted: Admitted, resp: Answer) -> None:
    """A call made with the account's own key that its provider refused as a credential:
    its owner told (once a window) and the client told why; the error leaves the serving
    block, which releases the reservation unbilled."""
    if call.byok is None or resp.status not in REJECTED_STATUSES or p.byok is None:
        return
    p.byok.rejected_later(admitted.account_id, call.price.provider)
    raise ByokKeyRejected(
        f"The provider '{call.price.provider}' refused your own API key for it "
        f"({resp.status}); nothing was billed. Replace it (PUT /v1/account/byok/"
        f"{call.price.provider}) or remove it to use this gateway's key."
    )
