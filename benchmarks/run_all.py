"""Run every benchmark script in this folder and print their figures (``make bench``).

Speed and memory targets live here, not in timed unit tests: the machines are shared and noisy, so these
print measured figures next to their targets for a human (or a CI log) to read.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Scripts that need a peer tool in its own venv; run them by hand (see their --help).
NEEDS_PEER_TOOL = {"calibrate_scalesim.py", "compare_zigzag.py"}


def main() -> int:
    """Run each ``bench_*.py`` in turn; return non-zero if any of them failed to run."""
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        if script.name in NEEDS_PEER_TOOL:
            continue
        print(f"\n=== {script.name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"--- {script.name}: exit {rc}, {time.perf_counter() - t0:.1f} s wall", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
