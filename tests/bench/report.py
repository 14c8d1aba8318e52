"""The results table: every figure next to the ceiling (the bare proxy) and as a ratio to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"  # not committed (.gitignore)


def publish(name: str, text: str) -> None:
    """A bench's table printed and written to tests/bench/results/`name`."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(text)
    print(text)


@dataclass(frozen=True)
class Row:
    figure: str
    direct: float | None
    ceiling: float | None
    meterway: float | None
    errors: str = ""
    note: str = ""
    unit: str = ""

    def ratio(self) -> str:
        if self.ceiling in (None, 0) or self.meterway is None:
            return "n/a"
        return f"{self.meterway / self.ceiling:.2f}x"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    cols = ("Figure", "Direct", "Ceiling (bare proxy)", "Meterway", "Meterway / ceiling")
    head = "| " + " | ".join((*cols, "Errors", "Note")) + " |"
    lines = [head, "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.figure} | {_num(r.direct)} | {_num(r.ceiling)} | {_num(r.meterway)} | "
            f"{r.ratio()} | {r.errors} | {r.note} |"
        )
    return "\n".join(lines)


def document(title: str, setup: list[str], rows: list[Row], extra: list[str]) -> str:
    parts = [f"# {title}", "", *[f"- {s}" for s in setup], "", table(rows), ""]
    if extra:
        parts += ["", *extra, ""]
    return "\n".join(parts)
