"""`python -m tests.bench.callgrind_profile [--stream] [--requests N] [--top N] [--out FILE]`

Where the compiled build's instructions go, by function: `meterway serve` under callgrind as
the speed guard drives it (one client, sequential requests, the settler off), N requests
dumped, then each of Meterway's compiled functions (mypyc names them `CPyDef_<module>___...`)
with the instructions it and what it calls took per request (inclusive, so rows overlap).
For the pure build callgrind sees only the interpreter: use `tests.bench.by_function`.
Run it on the compiled build (`MW_MYPYC=1 python setup.py build_ext --inplace`, then
`PYTHONPATH=. python -m tests.bench.callgrind_profile`). `--out` keeps the callgrind file
for `callgrind_annotate`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.bench import speed_guard
from tests.bench.procs import callgrind

LINE = re.compile(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*:(CPyDef_\w+) \[")


def _per_function(cg: Path, requests: int) -> list[tuple[int, str]]:
    """(inclusive instructions per request, function) of Meterway's compiled functions."""
    report = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", str(cg)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen: dict[str, int] = {}
    for line in report.splitlines():
        m = LINE.match(line)
        if m and m.group(2) not in seen:
            seen[m.group(2)] = int(m.group(1).replace(",", "")) // requests
    return sorted(((n, name) for name, n in seen.items()), reverse=True)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.callgrind_profile", description=__doc__)
    p.add_argument("--stream", action="store_true", help="streamed requests instead of plain")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--out", type=Path, help="keep the callgrind file here")
    a = p.parse_args()
    if speed_guard.build() != "compiled":
        print("the pure build: callgrind cannot name its functions (tests.bench.by_function can)")
        return 2
    with tempfile.TemporaryDirectory(prefix="mwprof-") as tmp:
        with speed_guard.arms(Path(tmp)) as (_, mw):
            speed_guard.send(mw, a.stream, 20)  # the first calls load what the path uses
            callgrind(mw.proc.pid, "--instr=on")
            speed_guard.send(mw, a.stream, 20)
            callgrind(mw.proc.pid, "-z")
            speed_guard.send(mw, a.stream, a.requests)
            callgrind(mw.proc.pid, "-d")
            time.sleep(1.0)
            dumps = sorted(mw.folder.glob("cg.*"), key=lambda f: f.stat().st_mtime)
            cg = Path(tmp) / "profile.cg"
            shutil.copy(dumps[-1], cg)
        if a.out:
            shutil.copy(cg, a.out)
        rows = _per_function(cg, a.requests)
    print(f"{'plain' if not a.stream else 'streamed'}: instructions per request, inclusive")
    for n, name in rows[: a.top]:
        print(f"{n:>12,}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
