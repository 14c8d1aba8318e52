"""A new virtualenv that sees the suite's installed dependencies, so README's and the docs'
install commands run in it as written without downloading anything.

A .pth file points the venv at a directory of links to the suite's site-packages entries,
the suite's own meterway left out; the venv's bundled setuptools is removed, so the one the
suite has (pyproject's `setuptools>=68`) is what builds. Run pip in it with PIP_NO_INDEX=1
(`offline`): a requirement the suite does not have fails instead of downloading, so the
commands tested are the commands' own requirements, pins included.
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path


def fresh_venv(where: Path) -> Path:
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([venv / "bin" / "pip", "uninstall", "-q", "-y", "setuptools"], check=True)
    deps = where / "deps"
    deps.mkdir()
    for here in site.getsitepackages():
        for entry in Path(here).iterdir():
            if entry.name.startswith(("meterway", "__editable__")) or entry.suffix == ".pth":
                continue
            if not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (site_packages(venv) / "suite_deps.pth").write_text(f"{deps}\n")
    return venv


def site_packages(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def offline(venv: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` as the activated venv sees it, with pip held to what is installed (and no
    PYTHONPATH: the venv's own install is what runs)."""
    path = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    kept = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    return {
        **kept,
        "PATH": path,
        "VIRTUAL_ENV": str(venv),
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
