"""billing/money/leases.py: a lease's pool never admits more than it holds, its size never takes
more than its share of any headroom, and it never admits past its granule or a change."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing.money.leases import (
    GRANULE_MS,
    HORIZON_MS,
    MAX_LIFE_MS,
    MAX_UNITS,
    MIN_UNITS,
    SHARE_BPS,
    Pool,
    Rate,
    Unit,
    grant_count,
    lease_end_ms,
    wanted_count,
)

amounts = st.integers(min_value=0, max_value=10**9)


@given(
    count=st.integers(min_value=1, max_value=MAX_UNITS),
    unit=st.builds(Unit, amounts, amounts, amounts),
    calls=st.lists(st.tuples(st.booleans(), amounts, amounts, amounts, st.booleans()), max_size=60),
)
def test_a_pool_never_admits_more_than_it_holds(
    count: int, unit: Unit, calls: list[tuple[bool, int, int, int, bool]]
) -> None:
    pool = Pool.of(count, unit, count * unit.spend_micros)
    taken: list[tuple[int, int, int]] = []
    requests = [0, 0, 0, 0]  # admitted, input, output, spend still out
    for take, i, o, s, whole in calls:
        if take:
            if pool.take(i, o, s):
                taken.append((i, o, s))
                requests = [requests[0] + 1, requests[1] + i, requests[2] + o, requests[3] + s]
        elif taken:
            i, o, s = taken.pop()
            pool.give_back(i, o, s, request=whole)
            requests = [requests[0] - whole, requests[1] - i, requests[2] - o, requests[3] - s]
        assert min(pool.requests, pool.input_tokens, pool.output_tokens, pool.spend_micros) >= 0
        assert requests[0] + pool.requests <= count or not whole
        assert requests[3] + pool.spend_micros == count * unit.spend_micros


def test_a_refused_take_takes_nothing() -> None:
    pool = Pool.of(4, Unit(10, 10, 100), 400)
    assert not pool.take(11 * 4, 1, 1)
    assert (pool.requests, pool.input_tokens, pool.output_tokens, pool.spend_micros) == (
        4,
        40,
        40,
        400,
    )


@given(
    asked=st.integers(min_value=1, max_value=MAX_UNITS),
    unit=st.builds(
        Unit,
        st.integers(min_value=1, max_value=10**5),
        st.integers(min_value=1, max_value=10**5),
        st.integers(min_value=1, max_value=10**7),
    ),
    rooms=st.dictionaries(
        st.sampled_from("riots"), st.integers(min_value=-(10**6), max_value=10**10)
    ),
)
def test_a_lease_takes_at_most_its_share_of_every_headroom(
    asked: int, unit: Unit, rooms: dict[str, int]
) -> None:
    count = grant_count(asked, unit, rooms)
    assert count == 0 or MIN_UNITS <= count <= asked
    per = unit.per_metric()
    for metric, room in rooms.items():
        assert count * per[metric] * 10_000 <= max(room, 0) * SHARE_BPS + per[metric] * 10_000


def test_a_small_headroom_is_not_leased() -> None:
    unit = Unit(10, 10, 1_000)
    assert grant_count(64, unit, {"s": 4 * 1_000 * 4 - 1}) == 0  # a quarter holds under 4
    assert grant_count(64, unit, {"s": 4 * 1_000 * 4}) == 4


@given(
    now=st.integers(min_value=0, max_value=10**13),
    changes=st.lists(st.integers(min_value=0, max_value=10**13), max_size=4),
)
def test_a_lease_ends_in_its_granule_within_its_life_and_before_any_change(
    now: int, changes: list[int]
) -> None:
    end = lease_end_ms(now, *changes)
    assert now < end <= now + MAX_LIFE_MS
    assert end // GRANULE_MS == now // GRANULE_MS or end % GRANULE_MS == 0
    assert all(not now < at < end for at in changes)


def test_a_key_is_leased_only_once_it_is_busy() -> None:
    rate = Rate()
    for n in range(MIN_UNITS - 1):
        rate.seen(n)
    assert wanted_count(rate) == 0
    rate.seen(MIN_UNITS)
    assert wanted_count(rate) == 2 * MIN_UNITS
    for n in range(10_000):
        rate.seen(HORIZON_MS + n % HORIZON_MS)  # the next horizon, far busier
    assert wanted_count(rate) == MAX_UNITS
    assert not rate.quiet(2 * HORIZON_MS + 1) and rate.quiet(3 * HORIZON_MS)
    rate.seen(10 * HORIZON_MS)  # idle for horizons: it starts over
    assert wanted_count(rate) == 0
