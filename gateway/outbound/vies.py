"""VIES, the EU's register of VAT numbers, asked whether a customer's VAT number is
registered (VIES_URL; off by default): its REST interface's `POST {VIES_URL}/check-vat-number`
with `{"countryCode", "vatNumber"}`, answering `{"valid": true|false, ...}`.

Asked only when an operator sets a customer's tax id, through the egress-checked client
(outbound/egress.py), never on a call's path. python-stdnum has already checked the number's
format and check digit (billing/money/tax.py); VIES says whether it is in use.
"""

from __future__ import annotations

import aiohttp

TIMEOUT_S = 10
MAX_BYTES = 64 * 1024


class ViesUnavailable(Exception):
    """VIES did not answer, or not with its answer's `valid`."""


async def registered(session: aiohttp.ClientSession, base_url: str, vat_number: str) -> bool:
    """Whether VIES lists `vat_number` (compact, its country prefix first: `FR403...`,
    `EL094...`) as a registered VAT number; ViesUnavailable when it cannot say."""
    body = {"countryCode": vat_number[:2], "vatNumber": vat_number[2:]}
    url = base_url.rstrip("/") + "/check-vat-number"
    try:
        async with session.post(
            url, json=body, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
        ) as r:
            if r.status != 200:
                raise ViesUnavailable(f"VIES answered {r.status}")
            answer = await r.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ViesUnavailable(f"VIES did not answer: {exc}") from exc
    valid = answer.get("valid") if isinstance(answer, dict) else None
    if not isinstance(valid, bool):
        raise ViesUnavailable("VIES's answer has no 'valid'")
    return valid
