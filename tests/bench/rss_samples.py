"""RSS of named process groups sampled on a timer, and the soak's per-process summary.

The question is whether memory is flat once caches are full, so the summary gives each
group's RSS at the start, after the first minute (when a 60 s key cache has turned over
once) and at the end, and the growth from that minute to the end.
"""

from __future__ import annotations

import contextlib
import csv
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.procs import rss_mib

Pids = Callable[[], list[int]]
Reading = Callable[[], float]


def _status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name):
            return int(line.split()[1])
    return 0


def rss(pids: Pids) -> Reading:
    """RSS in MiB of the processes alive at each reading (one that exits between listing
    and reading counts as 0)."""

    def read() -> float:
        total = 0.0
        for pid in pids():
            with contextlib.suppress(OSError):
                total += rss_mib([pid])
        return total

    return read


def private(pids: Pids) -> Reading:
    """RssAnon in MiB: for PostgreSQL backends, whose RSS counts every page of
    shared_buffers each of them has touched (summed over backends, many times over)."""

    def read() -> float:
        total = 0
        for pid in pids():
            with contextlib.suppress(OSError):
                total += _status_kib(pid, "RssAnon:")
        return total / 1024

    return read


@dataclass
class Sampler:
    groups: dict[str, Reading]
    every_s: float = 5.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0

    def sample(self) -> None:
        at = time.monotonic() - self._t0
        self.samples.append((at, {name: read() for name, read in self.groups.items()}))

    def start(self) -> None:
        """A first sample now (the soak's start), then one every `every_s`."""
        self._t0 = time.monotonic()
        self.sample()

        def loop() -> None:
            while not self._stop.wait(self.every_s):
                self.sample()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def at(self, seconds: float, name: str) -> float:
        """The group's first sample taken at or after `seconds` (the last one if none)."""
        for t, values in self.samples:
            if t >= seconds:
                return values[name]
        return self.samples[-1][1][name]

    def first(self, name: str) -> float:
        """The group's first sample with a process in it (wrk starts after the first)."""
        return next((v[name] for _, v in self.samples if v[name] > 0), 0.0)

    def last(self, name: str) -> float:
        """The group's last sample with a process in it (wrk's exit may beat the timer)."""
        return next((v[name] for _, v in reversed(self.samples) if v[name] > 0), 0.0)

    def csv(self) -> str:
        """Every sample, a row each (the names hold commas: quoted by the csv module)."""
        out, names = io.StringIO(), list(self.groups)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["seconds", *names])
        for t, values in self.samples:
            writer.writerow([f"{t:.1f}", *(f"{values[n]:.1f}" for n in names)])
        return out.getvalue()


def summary(s: Sampler, minute_s: float, notes: dict[str, str]) -> list[str]:
    """A markdown table: per group start, after `minute_s`, end, growth from there to the end."""
    end_t = s.samples[-1][0]
    rest_min = (end_t - minute_s) / 60
    lines = [
        f"| process | RSS start | after {minute_s:g} s | end ({end_t:.0f} s) "
        f"| growth over the last {rest_min:.1f} min | per minute | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in s.groups:
        start, first, end = s.first(name), s.at(minute_s, name), s.last(name)
        per_min = (end - first) / rest_min if rest_min > 0 else 0.0
        lines.append(
            f"| {name} | {start:.1f} | {first:.1f} | {end:.1f} | {end - first:+.1f} "
            f"| {per_min:+.2f} | {notes.get(name.split(' pid ')[0], '')} |"
        )
    return lines
