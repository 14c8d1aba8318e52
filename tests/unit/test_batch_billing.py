"""A batch's bill from its output file, pure: failed lines (an error, a non-2xx response,
an unreadable line) are not billed; each other line is priced on its own at the batch tier
(its own long-context band, the dearer of its reported model and the batch's), the exact
costs summed and rounded up once; and a batch's reservation is its worst case at the batch
rates, not the dearer standard ones."""

from __future__ import annotations

import time

import orjson

from billing.metering.usage import Usage, usage_from_openai
from billing.pricing.batches import bill_output, is_terminal, line_shares, output_usage
from tests.unit.test_pricing_shipped import TABLE
from tests.unit.test_pricing_shipped import shipped as shipped_price

NOW_MS = time.time_ns() // 1_000_000  # the prices in force now (a batch's admission time)


def _line(status: int, prompt: int = 10, completion: int = 5, error: object = None) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    body = {"usage": usage} if status == 200 else {"error": {"message": "no"}}
    item = {"response": {"status_code": status, "body": body}, "error": error}
    return orjson.dumps(item)


def _usage(body: dict[str, object]) -> Usage | None:
    raw = body.get("usage")
    return usage_from_openai(raw) if isinstance(raw, dict) else None


def test_only_succeeded_lines_are_billed() -> None:
    lines = [
        _line(200),
        _line(400),
        _line(200, 7, 3),
        _line(200, error={"code": "x"}),
        b"{cut",
        b"",
    ]
    usage, succeeded = output_usage(lines, _usage)
    assert succeeded == 2
    assert (usage.input_tokens, usage.output_tokens, usage.service_tier) == (17, 8, "batch")


def test_terminal_statuses() -> None:
    ended = [is_terminal({"status": s}) for s in ("completed", "expired", "cancelled", "failed")]
    assert ended == [True] * 4
    assert not is_terminal({"status": "in_progress"}) and not is_terminal(None)


def test_a_batch_is_reserved_at_the_batch_rates() -> None:
    price = shipped_price("gpt-4o-mini")  # $0.15/$0.60 per 1M, batch $0.075/$0.30
    assert price.worst_case_micros(1_000_000, 1_000_000, "batch") == 75_000 + 300_000
    assert price.worst_case_micros(1_000_000, 1_000_000) == 150_000 + 600_000


def _ran(prompt: int, completion: int, model: str = "") -> bytes:
    """An output line that succeeded, reporting `model` when given."""
    body: dict[str, object] = {"usage": {"prompt_tokens": prompt, "completion_tokens": completion}}
    if model:
        body["model"] = model
    return orjson.dumps({"response": {"status_code": 200, "body": body}, "error": None})


def _bill(lines: list[bytes], model: str) -> int:
    price = shipped_price(model)
    return bill_output(lines, _usage, price, TABLE.lookup, NOW_MS).priced.charged()


def test_each_line_is_priced_at_its_own_long_context_band() -> None:
    """gpt-5.4's batch rates double above 272k input tokens a request: eight lines of 50,000
    never reach it, though their sum (400,000) would: 8 x (62,500 + 750), not 1,009,000."""
    lines = [_ran(50_000, 100)] * 8
    assert _bill(lines, "gpt-5.4") == 506_000
    summed, _ = output_usage(lines, _usage)
    assert shipped_price("gpt-5.4").price(summed).charged() == 1_009_000  # the sum's band
    long = bill_output(
        [_ran(300_000, 0), *lines], _usage, shipped_price("gpt-5.4"), TABLE.lookup, NOW_MS
    )
    assert long.priced.charged() == 506_000 + 750_000  # 300,000 at $2.50 per 1M: its band
    assert dict(long.priced.detail) == {
        "service_tier": "batch", "batch_lines": 9, "lines_context_above": 1,
    }  # fmt: skip


def test_a_line_is_billed_at_the_dearer_of_its_reported_model_and_the_batchs() -> None:
    """$2.50/$10 per 1M for gpt-4o at half price in a batch, $0.075/$0.30 for gpt-4o-mini."""
    mini, full = 75 + 300, 1_250 + 5_000  # 1,000 tokens in, 1,000 out
    assert _bill([_ran(1_000, 1_000, "gpt-4o-mini")], "gpt-4o-mini") == mini
    assert _bill([_ran(1_000, 1_000, "gpt-4o")], "gpt-4o-mini") == full  # it ran on gpt-4o
    assert _bill([_ran(1_000, 1_000, "gpt-4o-mini")], "gpt-4o") == full  # priced as gpt-4o
    assert _bill([_ran(1_000, 1_000, "no-such-model")], "gpt-4o-mini") == mini
    both = bill_output(
        [_ran(1_000, 1_000, "gpt-4o"), _ran(1_000, 1_000)], _usage, shipped_price("gpt-4o-mini"),
        TABLE.lookup, NOW_MS,
    )  # fmt: skip
    assert both.priced.charged() == full + mini and both.succeeded == 2
    assert dict(both.priced.detail)["lines_billed_as"] == 1


def test_a_batch_is_rounded_up_once_not_per_line() -> None:
    """Three lines of one gpt-4o-mini batch input token (0.075 micros each) cost 0.225
    micros: one micro for the batch, one debit, not one per line."""
    assert _bill([_ran(1, 0)] * 3, "gpt-4o-mini") == 1


def _shares(
    lines: list[bytes], model: str, markup_bps: int = 0, cap: int | None = None
) -> dict[int, int]:
    price = shipped_price(model)
    return line_shares(lines, _usage, price, TABLE.lookup, NOW_MS, markup_bps, cap)


def test_the_lines_shares_sum_to_the_one_rounded_debit() -> None:
    """gpt-4o-mini's batch rates are 0.075 and 0.3 micros a token: 13 in + 7 out is 3.075
    micros. Three such lines rounded one by one would bill 12; the batch bills 10 (9.225
    rounded up once), and the shares ceil(3.075) - 0, ceil(6.15) - 4, ceil(9.225) - 7 are
    4, 3 and 3. A failed line between them has no share."""
    lines = [_ran(13, 7), _line(400), _ran(13, 7), _ran(13, 7)]
    assert _shares(lines, "gpt-4o-mini") == {0: 4, 2: 3, 3: 3}
    assert _bill(lines, "gpt-4o-mini") == 10


def test_every_prefix_of_the_shares_is_that_prefixs_one_rounded_debit() -> None:
    """Whatever the lines and the markup: the shares through any line are what those lines
    alone would be debited as a batch, so their sum is the batch's debit and no running
    total is below its exact cost."""
    price = shipped_price("gpt-4o-mini")
    for seed in range(40):
        lines = [
            _ran(1 + (seed * 7919 + i * 104_729) % 5000, (seed + i * 31) % 700) for i in range(9)
        ]
        lines.insert(seed % 9, _line(500))
        markup = (seed * 37) % 3000
        shares = _shares(lines, "gpt-4o-mini", markup)
        assert seed % 9 not in shares and len(shares) == 9
        running = 0
        for index, share in shares.items():
            running += share
            prefix = bill_output(lines[: index + 1], _usage, price, TABLE.lookup, NOW_MS)
            assert running == prefix.priced.charged(markup)


def test_under_a_charge_cap_the_shares_add_up_to_the_capped_debit() -> None:
    """A batch debited its charge cap (its provider reported more than it could have used)
    has line shares that add up to the cap: the running total stops there, and the lines
    past it share nothing. Uncapped, they add up to the whole bill."""
    lines = [_ran(13, 7), _line(400), _ran(13, 7), _ran(13, 7)]
    assert _shares(lines, "gpt-4o-mini", cap=6) == {0: 4, 2: 2, 3: 0}
    assert _shares(lines, "gpt-4o-mini", cap=10) == _shares(lines, "gpt-4o-mini")
    for cap in range(0, 12):
        shares = _shares(lines, "gpt-4o-mini", cap=cap)
        assert sum(shares.values()) == min(cap, 10) and min(shares.values()) >= 0
