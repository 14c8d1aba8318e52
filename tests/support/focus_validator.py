"""The FinOps Foundation's `focus-validator`, run on files the gateway wrote.

Its current release (2.2.1, FOCUS 1.2 rules shipped in the package) needs Python 3.12 or
newer and, as released, pins NumPy below 2 while taking any pyarrow (26 needs NumPy 2): the
venv it runs in is built once per machine with the pins that import, under
~/.cache/meterway-tests, from a Python 3.12+ found on PATH or under pyenv. It reads its
currency table by a path relative to its package's parent, so it runs from there.

The validator's verdict is every rule it reports FAIL, less `VALIDATOR_DEFECTS`: rules its
1.2.0.1 model states so that no dataset can pass them, each with its reason.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

VERSION = "2.2.1"
PINS = (f"focus-validator=={VERSION}", "numpy<2", "pyarrow<21")
HOME = Path.home() / ".cache" / "meterway-tests" / f"focus-validator-{VERSION}"
# The features a gateway's dataset has (the validator's applicability criteria).
CRITERIA = (
    "USAGE_MEASUREMENT_SUPPORTED",
    "PUBLIC_PRICE_LIST_SUPPORTED",
    "UNIT_PRICING_SUPPORTED",
    "TAGGING_SUPPORTED",
    "ACCOUNT_NAMING_SUPPORTED",
)
VALIDATOR_DEFECTS = {
    # "InvoiceId MUST be null when the charge is not associated with an invoice" is encoded
    # with no condition, beside InvoiceId-C-005-C ("MUST NOT be null when it is"), also
    # unconditional: every InvoiceId fails one or the other (left out, the recommended
    # column's presence rule fails instead). Rows carry their statement's id.
    "InvoiceId-C-004-C",
}
_FAIL = re.compile(r"^❌ (\S+): FAIL")


def _python312() -> str:
    names = [shutil.which(n) for n in ("python3.13", "python3.12")]
    names += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
    for name in filter(None, names):
        if subprocess.run([name, "--version"], capture_output=True).returncode == 0:
            return name
    raise RuntimeError("focus-validator needs Python 3.12 or newer; none was found")


def _env() -> dict[str, str]:
    """The environment without PYTHONPATH: the suite's (3.11) path must not reach 3.12."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def validator() -> Path:
    """The validator's executable, its venv built first if this machine has none."""
    exe = HOME / "bin" / "focus-validator"
    HOME.parent.mkdir(parents=True, exist_ok=True)
    with open(HOME.parent / f".focus-validator-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers build it once
        if not exe.exists():
            subprocess.run([_python312(), "-m", "venv", "--clear", HOME], check=True, env=_env())
            pip = [str(HOME / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, *PINS], check=True, env=_env())
    return exe


def failed_rules(path: Path) -> set[str]:
    """Every rule the validator fails on the file (CSV or Parquet), less its own defects."""
    exe = validator()
    site = next((HOME / "lib").glob("python3*/site-packages"))
    out = subprocess.run(
        [exe, "--data-file", path, "--validate-version", "1.2", "--block-download",
         "--applicability-criteria", ",".join(CRITERIA)],
        cwd=site, capture_output=True, text=True, timeout=300, env=_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "=== Validation Results ===" in out.stdout, out.stdout[-3000:]
    failed = {m[1] for line in out.stdout.splitlines() if (m := _FAIL.match(line))}
    return failed - VALIDATOR_DEFECTS
