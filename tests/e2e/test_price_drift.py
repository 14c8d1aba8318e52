"""Price drift (billing/proof/drift.py): an OpenAI-compatible upstream that states its own cost per
call (OpenRouter's `usage.cost`) is compared with the card off the request path, by the
settler; a drift is counted by model and notified to the operator, and the debit is always
the card's, never the provider's figure."""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.telemetry import metrics
from tests.support.factories import debits, openai_client, tenant, usage_stream
from tests.support.harness import Gateway

MESSAGES: Any = [{"role": "user", "content": "What does this cost?"}]
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
CARD = 450  # gpt-4o-mini: 1000 x $0.15/M + 500 x $0.60/M
CARD_4O = 7500  # gpt-4o: 1000 x $2.50/M + 500 x $10.00/M


def counted(model: str) -> tuple[float, float]:
    m = metrics()
    return m.price_checked.labels(model)._value.get(), m.price_drift.labels(model)._value.get()


async def test_a_stated_cost_is_compared_never_billed_and_drift_is_notified(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    mini, full = counted("gpt-4o-mini"), counted("gpt-4o")
    async with openai_client(gw, t.key) as client:
        gw.control.usage = {**USAGE, "cost": 0.0009}  # twice the card's
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=600
        )
        await usage_stream(client, "gpt-4o-mini", MESSAGES, max_tokens=600)
        gw.control.usage = {**USAGE, "cost": 0.0075}  # gpt-4o's card's own figure
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=600)
    assert answer.usage is not None and (answer.usage.model_extra or {})["cost_micros"] == CARD
    rows = await debits(gw, t.account_id)
    assert sorted(-r["amount_micros"] for r in rows) == [CARD, CARD, CARD_4O]
    stated = sorted(r["usage_detail"]["provider_stated_cost_nanos"] for r in rows)
    assert stated == [900_000, 900_000, 7_500_000]
    # Counted per debit the settler writes (a batch read twice is counted twice): every
    # comparison of gpt-4o-mini drifted, none of gpt-4o's.
    checked, drifted = (now - was for now, was in zip(counted("gpt-4o-mini"), mini, strict=True))
    assert checked == drifted >= 2
    checked, drifted = (now - was for now, was in zip(counted("gpt-4o"), full, strict=True))
    assert checked >= 1 and drifted == 0
    conn = await asyncpg.connect(gw.settings.database_url)
    try:
        alerts = await conn.fetch(
            "SELECT account_id, payload FROM notify_outbox WHERE event = 'price.drift'"
        )
    finally:
        await conn.close()
    assert len(alerts) == 1 and alerts[0]["account_id"] == t.account_id  # one per model and hour
    assert '"drift_permille": 998' in alerts[0]["payload"]  # 449 micros past the rounding
    assert '"card_micros": 450' in alerts[0]["payload"]
