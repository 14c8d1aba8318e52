"""Every debit of a reservation goes through the one settlement (services/money/meter/metering.py's
`Meter._debit`, which applies the charge cap): a new path that settles by hand (as batches
and background responses once did, without the cap) fails here by name.

The allowed places, each with why:
- the Meter's own entry points (`settle`, `settle_priced`, `settle_fixed`), called from any
  surface: they all end in `_debit`;
- `Meter._debit` -> `Settlements.settle` -> the hot store's `settle` (services/money/settlement.py),
  which settles a call admitted under a lease by its lease's append
  (stores/redis/leases/process.py);
- the sweeper's retry of a debit that was already priced and capped (workers/sweeper.py);
- the journal's replay of a settlement `Settlements.settle` journaled, priced and capped
  then (stores/journal.py);
- the metering API's holds (services/metered*.py): a quantity at the meter's own price,
  bounded by its hold unless the operator allows overage (docs/guides/metering-api.md);
- the metering API's route calling its service; a form token's single use (not money).
"""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
METER_ENTRY_POINTS = {"settle", "settle_priced", "settle_fixed"}
# (file, receiver as written) -> why it may call settle directly
ALLOWED = {
    ("services/money/meter/metering.py", "self.settlements"): "Meter._debit, the one settlement",
    ("services/money/settlement.py", "self.store"): "Settlements: settle.lua through the port",
    ("stores/redis/hotstore.py", "self.leases"): "the port's settle of a leased call: an append",
    ("workers/sweeper.py", "store"): "a pending debit, priced and capped when it was made",
    ("stores/journal.py", "self.store"): "a journaled settlement, priced and capped when made",
    ("services/money/meter/metered.py", "self.holds"): "the metering API's holds (its own rule)",
    ("services/money/meter/metered_events.py", "metering.holds"): "the metering API's events",
    ("http/metering/routes.py", "request.config_dict[METERING]"): "the metering API route",
    ("http/dashboard/form_tokens.py", "tokens"): "a form token's single use, not money",
}


def _calls() -> set[tuple[str, str]]:
    found = set()
    for path in GATEWAY.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in METER_ENTRY_POINTS:
                continue
            receiver = ast.unparse(node.func.value)
            if receiver.endswith("meter"):  # a Meter: its entry points end in _debit
                continue
            found.add((str(path.relative_to(GATEWAY)), receiver))
    return found


def test_every_settle_goes_through_the_meters_one_settlement() -> None:
    assert _calls() - set(ALLOWED) == set(), "a settle that bypasses Meter._debit"


def test_the_allowed_places_are_still_there() -> None:
    """A place that no longer settles leaves the list, so the list stays what is true."""
    assert set(ALLOWED) - _calls() == set()
