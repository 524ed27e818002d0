"""``hetsim sweep [SWEEP.yaml]``: a design-space sweep into a resumable result store, with its Pareto
front, report and figures (the bundled example sweep without a file)."""
from __future__ import annotations

import argparse
import os
import sys
import time

HELP = "sweep a design space (platform and study axes) into a resumable store; Pareto fronts and figures"

DESCRIPTION = """\
Evaluates many configurations: axes are dotted paths into the platform YAML (platform.memories.buffer.capacity)
or the study YAML (study.scenario.rate), each a list of values with units or a range {from, to, steps, scale};
points come from a full grid, {random: N}, {lhs: N} (Latin hypercube) or {search: N} (NSGA-II over the
objectives). Every point's platform is rebuilt from its YAML by the normal loader; points that share a
workload and placement share one preparation; evaluation is closed-form (analytic, default) or the SimPy
engine (evaluator: engine; confirm_front: true re-runs the front in the engine).

Writes DIR (default results/sweep-<name>): points.parquet/ (one row per point: a column per axis, every
summary metric, feasible, overloaded, reason, point_id), pareto.csv, sweep.md and figures/ (Pareto
fronts, sensitivity per axis; PNG and PDF). A killed sweep resumes where it stopped (a plain re-run into
the same DIR evaluates only the points not stored yet).

Without SWEEP.yaml it runs the bundled example: about 1,000 points over the backbone memory technology,
its banks, the staging-buffer size, the request rate and the adapter size on edge-rram."""

EPILOG = """\
examples:
  hetsim sweep                                   the bundled example sweep (~1,000 points)
  hetsim sweep my-sweep.yaml -o results/my-sweep --workers 2
  hetsim sweep my-sweep.yaml -o results/my-sweep --resume      after an interruption
  hetsim sweep my-sweep.yaml --scheduler tcp://10.0.0.5:8786   on a Dask cluster
"""


def register(subparsers) -> None:
    """Add the ``sweep`` subcommand."""
    p = subparsers.add_parser("sweep", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", nargs="?", metavar="SWEEP.yaml", help="sweep file (default: the bundled example)")
    p.add_argument("-o", "--out", metavar="DIR", help="sweep folder (default: results/sweep-<name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue a sweep in DIR (evaluate only points not stored; a plain re-run does the same)")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes (default: the machine's cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (tcp://HOST:PORT)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep of ``args``; returns the exit code."""
    from pathlib import Path

    from simulator.errors import SimulationConfigError
    from simulator.sweep.report import pareto_table
    from simulator.sweep.runner import run_sweep
    from simulator.sweep.spec import load_spec
    from simulator.outdir import read_marker
    from simulator.sweep.store import check_sweep_dir

    spec = load_spec(args.sweep)
    if args.workers is not None and args.workers < 1:
        raise SimulationConfigError(f"--workers: got {args.workers}; expected an integer >= 1")
    out = Path(args.out) if args.out else Path("results") / f"sweep-{spec.name}"
    check_sweep_dir(out, spec.name)
    if args.resume and read_marker(out) is None:
        raise SimulationConfigError(f"{out}: --resume: no sweep store here; expected the folder of an earlier "
                                    "run of this sweep")
    client = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a pinned dependency
            raise SimulationConfigError("--scheduler: dask.distributed is not installed; expected "
                                        "pip install 'dask[distributed]'") from None
        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise SimulationConfigError(f"--scheduler: cannot reach {args.scheduler} ({exc}); expected the "
                                        "address of a running dask scheduler, tcp://HOST:PORT") from None
    started = time.perf_counter()
    try:
        frame = run_sweep(spec, out, workers=args.workers or os.cpu_count(), client=client,
                          progress=not args.no_progress, log=lambda text: print(text, flush=True))
    finally:
        if client is not None:
            client.close()
    elapsed = time.perf_counter() - started
    rows = frame[frame["evaluator"] == spec.evaluator] if not frame.empty else frame
    n = len(rows)
    feasible = int(rows["feasible"].sum()) if n else 0
    overloaded = int(rows["overloaded"].sum()) if n else 0
    table = pareto_table(spec, frame)
    print(f"{n} points: {feasible} feasible, {overloaded} overloaded; Pareto front of "
          f"{', '.join(spec.objectives)}: {len(table)} points")
    if len(table):
        from simulator.results.report import format_text
        from simulator.sweep.report import display

        show = table.drop(columns=[c for c in ("point_id", "point", "evaluator") if c in table.columns]).head(15).copy()
        for c in list(show.columns):
            if c in spec.objectives or c.startswith("engine_"):
                label, scale = display(c.removeprefix("engine_"))
                show[c] = show[c] / scale
                show = show.rename(columns={c: ("engine " if c.startswith("engine_") else "") + label})
        for c in show.columns:
            if c.endswith("capacity"):
                show[c] = show[c].map(lambda b: f"{b / 1024:g} KiB")
        show.columns = [c.replace("platform.", "").replace("study.", "").replace("memories.", "") for c in show.columns]
        print()
        print(format_text(show))
        if len(table) > 15:
            print(f"... {len(table) - 15} more in pareto.csv")
    print()
    print(f"wrote {out}/ in {elapsed:.1f} s: points.parquet/, pareto.csv, sweep.md, figures/")
    sys.stdout.flush()
    return 0
