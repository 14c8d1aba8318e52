"""FOCUS rows as a Parquet file: costs, unit prices and quantities as exact decimals
(decimal128, 18 places), the period columns as UTC timestamps, the rest as text.

pyarrow is an optional dependency (`pip install 'meterway[parquet]'`); without it a
Parquet export is refused by name and CSV still works. It is imported by the first Parquet
export (half a second to seconds, with numpy and pandas where installed: the export writes in
a thread), not by every gateway's and every `meterway` command's start.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.usage.focus import Row
from billing.usage.focus_columns import COLUMNS, DATE_COLUMNS, DECIMAL_COLUMNS

DECIMAL = (38, 18)


class ParquetUnavailable(Exception):
    """Parquet was asked for without pyarrow installed."""


def _schema(pa: Any, columns: tuple[str, ...]) -> Any:
    fields = []
    for name in columns:
        if name in DECIMAL_COLUMNS:
            kind = pa.decimal128(*DECIMAL)
        elif name in DATE_COLUMNS:
            kind = pa.timestamp("s", tz="UTC")
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _value(name: str, text: str | None) -> Any:
    if text is None:
        return None
    if name in DECIMAL_COLUMNS:
        return Decimal(text)
    if name in DATE_COLUMNS:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return text


def write(rows: list[Row], columns: tuple[str, ...] = COLUMNS) -> bytes:
    """The rows as one Parquet file's bytes, of `columns`."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the test extras install it
        needs = "Parquet needs pyarrow: pip install 'meterway[parquet]'."
        raise ParquetUnavailable(needs) from None
    values = {name: [_value(name, row.get(name)) for row in rows] for name in columns}
    table = pa.Table.from_pydict(values, schema=_schema(pa, columns))
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()
