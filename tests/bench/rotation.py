"""wrk driving every request with the next key of a million and the next end user.

A run continues the rotation where the previous one stopped (`Rotation.next_key`), so the
probes that measure the maximum and calibrate the pacing do not leave keys in the gateway's
key cache for the soak to hit: every request of the soak is a key's first in its run.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.bench.bulk_keys import SECRET_LEN, key_count
from tests.bench.load import HERE, Run, chat_body, parse_summary
from tests.bench.upstream import MODEL

SCRIPT = HERE / "wrk" / "soak.lua"


def write_user_body(path: Path) -> Path:
    """The benches' plain chat completion, naming an end user (`user`) the script fills in."""
    body = chat_body(MODEL, stream=False)
    body["user"] = "@@USER@@"
    path.write_text(json.dumps(body))
    return path


@dataclass
class Rotation:
    url: str
    keys_file: Path
    body: Path
    end_users: int
    per_account: int  # keys per account, each account's together in the file (bulk_keys)
    cpu: int
    next_key: int = 0  # the rotation's position: the first key of the next run

    @property
    def keys(self) -> int:
        return key_count(self.keys_file)

    def start(self, c: int, seconds: float, delay_ms: int = 0) -> subprocess.Popen[str]:
        """A wrk run in the background (the soak samples its RSS while it runs)."""
        env = {
            **os.environ,
            "BENCH_KEYS": str(self.keys_file),
            "BENCH_WIDTH": str(SECRET_LEN + 1),
            "BENCH_COUNT": str(self.keys),
            "BENCH_START": str(self.next_key),
            "BENCH_USERS": str(self.end_users),
            "BENCH_PER_ACCOUNT": str(self.per_account),
            "BENCH_BODY": str(self.body),
            "BENCH_DELAY": str(delay_ms),
        }
        argv = ["taskset", "-c", str(self.cpu), "wrk", "-t1", f"-c{c}", f"-d{seconds:g}s"]
        argv += ["--timeout", "10s", "-s", str(SCRIPT), self.url]
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen[str], c: int) -> Run:
        """wrk's summary; the rotation moves past every request it sent."""
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"wrk exited {proc.returncode}:\n{out}")
        run = parse_summary(out)
        self.next_key += run.requests + c  # and what was in flight when wrk stopped
        return run

    def run(self, c: int, seconds: float, delay_ms: int = 0) -> Run:
        return self.finish(self.start(c, seconds, delay_ms), c)

    def pace(self, target_rps: float, c: int, service_ms: float) -> int:
        """wrk has no rate option: a per-request delay, calibrated with three short probes
        (as phases._soak_delay does for the small soak)."""
        delay = max(1, round(c * 1000 / target_rps - service_ms))
        for _ in range(3):
            probe = self.run(c, 3, delay)
            service = c * 1000 / max(probe.rps, 1.0) - delay
            delay = max(1, round(c * 1000 / target_rps - service))
        return delay
