"""The layering contract (.importlinter) holds on the repository and fails when a forbidden import is added.

Runs `lint-imports` (import-linter) as a subprocess, on the repository and on temporary copies of the
three packages with one forbidden import written into them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "hw_models", "workloads")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """`lint-imports` run in ``cwd`` with ``cwd`` first on the import path (so a copy is what is read)."""
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def copy_repo(tmp_path: Path) -> Path:
    """The three packages and the contract file, copied (without caches) to ``tmp_path``."""
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_repository_keeps_the_contracts():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout, proc.stdout


@pytest.mark.parametrize("module,line,contract", [
    ("hw_models/units.py", "import simulator.errors", "hw_models imports neither"),
    ("workloads/trace.py", "from simulator.prepare import streams", "workloads never imports simulator"),
    ("simulator/prepare/traffic.py", "import simulator.cost.tables", "simulator subpackages import only"),
    ("simulator/results/report.py", "import simulator.engine", "simulator subpackages import only"),
    # reproduce builds on the sweep (the pareto recipe), never the other way round
    ("simulator/sweep/runner.py", "import simulator.reproduce", "simulator subpackages import only"),
    ("simulator/cost/tables.py", "import torch", "nothing outside workloads imports torch"),
])
def test_a_forbidden_import_breaks_the_contract(tmp_path, module, line, contract):
    copy = copy_repo(tmp_path)   # the repository passes (test above); so would this copy
    path = copy / module
    path.write_text(path.read_text() + f"\n{line}  # forbidden, written by the test\n")
    broken = lint_imports(copy)
    assert broken.returncode != 0, broken.stdout
    verdicts = [ln for ln in broken.stdout.splitlines()
                if contract in ln and ln.rstrip().endswith(("KEPT", "BROKEN"))]
    assert verdicts and all(ln.rstrip().endswith("BROKEN") for ln in verdicts), broken.stdout
    assert "1 broken" in broken.stdout, broken.stdout    # and only that contract
