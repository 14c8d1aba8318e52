"""The uncollected part of a debit in the settlement stream (stores/stream_fields.py): an
older settler, which knows only the forms before it, must park such a message (loudly,
never lost, requeued after the upgrade), never read it as a debit or a void."""

from __future__ import annotations

import orjson
import pytest

from gateway.stores import stream_fields as sf

ROW = ["rid", "uncollected", "acct", "key", "300", "m", "openai", "1", "0", "0", "2", "0",
       "provider", "1700000000000", "1700000000001", "balance"]  # fmt: skip
OLDER_FORMS = (sf.FIELDS, sf.PRICED_FIELDS, sf.END_USER_FIELDS, sf.METERED_FIELDS,
               sf.WRITE_OFF_FIELDS)  # fmt: skip


def test_its_length_and_kind_are_new_to_every_older_form() -> None:
    """An older settler reads a packed row by its length and refuses a kind it does not
    know: both are new here, so it raises MalformedSettlement and parks the message."""
    assert len(sf.UNCOLLECTED_FIELDS) not in {len(f) for f in OLDER_FORMS}
    assert sf.UNCOLLECTED not in sf.KINDS | {sf.WRITE_OFF}


def test_it_becomes_a_receivable_row_that_moved_no_balance() -> None:
    fields = {sf.ROW: orjson.dumps(ROW)}
    row = dict(zip(sf.LEDGER_COLUMNS, sf.ledger_row_raw(fields), strict=True))
    assert (row["kind"], row["amount_micros"], row["metadata"]) == (
        "uncollected",
        -300,
        '{"why":"balance"}',
    )
    assert sf.queued(fields) == ("rid", "uncollected", "acct", 0)
    assert sf.ledger_row_raw(sf.named(fields)) == tuple(row.values())


@pytest.mark.parametrize(
    "row",
    [
        ROW[:15],  # read with the names an older settler knows (no `why`)
        [*ROW[:15], "reasons"],  # a cause nobody wrote
        [ROW[0], "debit", *ROW[2:]],  # a debit of the uncollected form
        [*ROW[:4], "0", *ROW[5:]],  # an uncollected part of nothing
    ],
)
def test_a_malformed_one_is_parked(row: list[str]) -> None:
    with pytest.raises(sf.MalformedSettlement):
        sf.ledger_row_raw({sf.ROW: orjson.dumps(row)})
