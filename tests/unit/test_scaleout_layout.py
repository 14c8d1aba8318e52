"""The scale-out bench's cores (tests/bench/scaleout.py): every role its own where the machine
has enough, and where it has not, the layout says it shares them."""

from __future__ import annotations

from tests.bench.scaleout import layout, needed


def test_a_many_core_machine_gives_every_role_cores_of_its_own() -> None:
    lay = layout(list(range(16)), procs=8, shards=3)
    roles = [*lay.redis, lay.postgres, lay.nginx, *lay.wrk, *lay.gateways]
    assert not lay.shared
    assert len(roles) == len(set(roles)) == needed(8, 3) == 15
    assert len(lay.gateways) == 8 and len(lay.wrk) == 2


def test_two_cores_share_them_and_say_so() -> None:
    lay = layout([0, 1], procs=2, shards=1)
    assert lay.shared
    assert lay.gateways == [0, 1]
    assert {*lay.redis, lay.postgres, lay.nginx, *lay.wrk} == {1}
