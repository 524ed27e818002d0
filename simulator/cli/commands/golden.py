"""``hetsim golden capture|check|update``: pin a study's headline figures and tell when they move."""
from __future__ import annotations

import argparse
import sys

HELP = "pin a study's headline metrics in a golden JSON file; check or re-capture it"

DESCRIPTION = """\
Golden metrics, for regression tests and CI. `capture` runs a study and records, per platform, its
headline metrics (energy per inference in total and per component, leakage share, latency p50/p99,
average power, area, ratio to the lower bound, NVM lifetime, requests and switches; SI units), hetsim's
and its libraries' versions, and a SHA-256 of every input file. `check` runs the same study again and
prints a table of the metrics that moved beyond their relative tolerance (default 1e-6; per metric in the
file's "tolerance" map), with the inputs and versions that changed; it exits 1 when any moved, 0 when none
did. `update` re-captures a golden file in place after a deliberate change (review its diff)."""

EPILOG = """\
examples:
  hetsim golden capture -o golden.json                       the default study
  hetsim golden capture my-study.yaml -o golden.json --requests 20
  hetsim golden check golden.json                            exit 1 and a table when a figure moved
  hetsim golden update golden.json                           re-capture after a deliberate change

exit codes: 0 nothing moved (or written), 1 some metric moved, 2 bad input.
"""


def register(subparsers) -> None:
    """Add the ``golden`` subcommand and its three actions."""
    p = subparsers.add_parser("golden", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    cap = sub.add_parser("capture", help="run a study and write its golden metrics",
                         description="Run STUDY (the default study without it) and write its golden metrics.")
    cap.add_argument("study", nargs="?", metavar="STUDY", help="study YAML file (default: the default study)")
    cap.add_argument("-o", "--out", required=True, metavar="FILE", help="golden JSON file to write")
    cap.add_argument("--requests", type=int, metavar="N", help="override the study's number of requests")
    cap.add_argument("--overwrite", action="store_true", help="replace FILE if it is a golden file already")
    cap.set_defaults(func=_capture)
    chk = sub.add_parser("check", help="re-run the pinned study; exit 1 with a table if a metric moved",
                         description="Re-run the study a golden file pins and compare its metrics.")
    chk.add_argument("golden", metavar="FILE", help="golden JSON file (from hetsim golden capture)")
    chk.add_argument("--rtol", type=float, metavar="R",
                     help="relative tolerance for metrics without their own (default: the file's, 1e-6)")
    chk.set_defaults(func=_check)
    upd = sub.add_parser("update", help="re-capture a golden file in place",
                         description="Re-run the study a golden file pins and replace the file with its metrics.")
    upd.add_argument("golden", metavar="FILE", help="golden JSON file to re-capture")
    upd.set_defaults(func=_update)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _capture(args: argparse.Namespace) -> int:
    from simulator.study import golden
    from simulator.errors import SimulationConfigError
    if args.requests is not None and args.requests < 1:
        raise SimulationConfigError(f"--requests: got {args.requests}; expected an integer >= 1")
    from pathlib import Path
    golden.claim(args.out, replace=args.overwrite)          # before the study runs, not after
    doc = golden.capture(args.study, requests=args.requests, base=Path(args.out).parent)
    path = golden.write(doc, args.out, replace=args.overwrite)
    n = sum(len(m) for m in doc["metrics"].values())
    print(f"wrote {path}: {n} metrics of {len(doc['metrics'])} platforms, {len(doc['inputs'])} input files hashed")
    return 0


def _check(args: argparse.Namespace) -> int:
    from simulator.study import golden
    from simulator.errors import SimulationConfigError
    if args.rtol is not None and not args.rtol >= 0:
        raise SimulationConfigError(f"--rtol: got {args.rtol}; expected a relative tolerance >= 0")
    moved, changed, now = golden.check(args.golden, rtol=args.rtol)
    n = sum(len(m) for m in now["metrics"].values())
    if not moved:
        print(f"{args.golden}: all {n} metrics within tolerance")
        for line in changed:
            print(f"  note: {line}")
        return 0
    print(f"{args.golden}: {len(moved)} of {n} metrics moved beyond tolerance")
    print()
    print(golden.format_moved(moved))
    if changed:
        print()
        print("since capture:")
        for line in changed:
            print(f"  {line}")
    print()
    print(f"if the change is deliberate: hetsim golden update {args.golden}")
    sys.stdout.flush()
    return 1


def _update(args: argparse.Namespace) -> int:
    from simulator.study import golden
    old = golden.read(args.golden)
    from pathlib import Path
    doc = golden.capture(golden.study_of(old, args.golden), requests=old["study"].get("requests"),
                         base=Path(args.golden).parent)
    doc["study"] = old["study"]
    doc["tolerance"] = old["tolerance"]
    moved = golden.compare(old, doc)
    golden.write(doc, args.golden, replace=True)
    print(f"re-captured {args.golden}: {len(moved)} metrics changed")
    return 0
