"""``hetsim run [CONFIG]``: run a study (the default one without CONFIG), print the comparison table and
write the run folder (tables, report.md, figures, Perfetto timeline)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "run a study: a multi-task workload on several platforms (the default study without CONFIG)"

DESCRIPTION = """\
Runs a study: the model and its tasks traced (cached after the first time), one request stream, simulated
on every platform of the study. Prints a comparison table (energy per inference by component, latency,
area, leakage share) and writes results/<study>-<timestamp>/ (or -o OUT): summary.csv/json, one folder
of CSV tables per platform, report.md, energy_breakdown.png/.pdf, timeline.png/.pdf and
timeline.perfetto.json (open it in https://ui.perfetto.dev).

Without CONFIG it runs the default study (simulator/studies/default.yaml): adapter-ALBERT serving
four GLUE-named tasks on edge-sram-dram, edge-sram, edge-rram and edge-mram."""

EPILOG = """\
examples:
  hetsim run                                   the default study
  hetsim run --requests 20 --platforms edge-sram,edge-rram
  hetsim run my-study.yaml -o results/my-run   a study of your own (see README: hetsim run)
"""


def register(subparsers) -> None:
    """Add the ``run`` subcommand."""
    p = subparsers.add_parser("run", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", metavar="CONFIG", help="study YAML file (default: the default study)")
    p.add_argument("-o", "--out", metavar="OUT", help="run folder (default: results/<study>-<timestamp>)")
    p.add_argument("--requests", type=int, metavar="N", help="override the number of requests of the scenario")
    p.add_argument("--platforms", metavar="A,B", help="run only these platforms of the study (comma-separated)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier hetsim run in OUT (only the files that run wrote; others stay)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="worker processes for the platforms and figures (default: one per CPU; 1: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(func=run)


def need_bytes(config) -> float:
    """The free space (bytes) demanded before simulating: 16 MiB for figures, summaries and the per-op
    tables, plus 2 KiB per request and platform for the per-request rows (30 KiB with the full ledger, one
    row per cost event). An assumption meant to be generous, not a measurement: a disk that fills anyway
    is caught while writing and leaves the folder as it was."""
    per_request = 30 * 1024 if config.outputs.ledger else 2 * 1024
    return 16 * 2**20 + per_request * config.scenario.requests * len(config.platforms)


def unused_run_dir(config) -> Path:
    """``results/<name>-<timestamp>``, with ``-2``, ``-3``, ... appended if that exists already."""
    base = config.run_dir()
    path, n = base, 2
    while path.exists() or path.is_symlink():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def run(args: argparse.Namespace) -> int:
    """Run the study of ``args``; returns the exit code (0)."""
    from simulator.outdir import claim_output
    from simulator.results.report import comparison_table, format_text, overload_lines, workload_summary
    from simulator.study.runner import default_study, load_study, run_study, save_study

    if args.jobs is not None and args.jobs < 1:
        from simulator.errors import SimulationConfigError
        raise SimulationConfigError(f"--jobs: got {args.jobs}; expected an integer >= 1")
    config = load_study(args.config) if args.config else default_study()
    platforms = [p.strip() for p in args.platforms.split(",")] if args.platforms is not None else None
    config = config.with_overrides(requests=args.requests, platforms=platforms, out=args.out)
    field = "--out" if args.out else f"outputs.dir of {config.source}" if config.outputs.dir else \
        "the default run folder"
    out_dir = config.run_dir() if config.outputs.dir else unused_run_dir(config)
    # every check of the output folder (kind, permission, free space) before simulating, not after
    with claim_output(out_dir, command="run", field=field, overwrite=args.overwrite,
                      need_bytes=need_bytes(config)) as claimed:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        results = run_study(config, progress=not args.no_progress, jobs=args.jobs, timings=timings, tables=True,
                            while_simulating=_warm_up_figures if config.outputs.figures else None)
        simulated = time.perf_counter() - started
        first = next(iter(results.values()))
        what = (f"{config.model} ({config.adapter})" if config.generation is None
                else workload_summary(config))
        print(f"study {config.name}: {what}, tasks {', '.join(config.tasks)}; "
              f"{first.n_requests} requests"
              + (f" ({config.scenario.max_in_flight} in flight at once)" if config.scenario.max_in_flight > 1 else "")
              + f", {int(first.requests['switch'].sum())} of them load another "
              f"task; traced (or loaded from the trace cache) and simulated ({config.evaluator}) in "
              f"{simulated:.1f} s")
        print()
        print(format_text(comparison_table(results)))
        print()
        for line in overload_lines(results):
            print(line)
        sys.stdout.flush()
        written = time.perf_counter()
        out = save_study(results, config, claimed, jobs=args.jobs)
        timings["writing"] = time.perf_counter() - written
    files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    print(f"wrote {out_dir}/ in {time.perf_counter() - started - simulated:.1f} s: {', '.join(files)}; "
          f"CSV tables per platform in {', '.join(k + '/' for k in results)}")
    print(time_line(timings, time.perf_counter() - started))
    sys.stdout.flush()
    return 0


def _warm_up_figures() -> None:
    """Import the figure modules and load their fonts while the platforms simulate: the figure workers
    forked afterwards inherit them (:func:`simulator.results.plots.warm_up`)."""
    from simulator.results import plots

    plots.warm_up()


def time_line(timings: dict[str, float], total_s: float) -> str:
    """Where the run's time went, one line: tracing (or loading traces from the cache), preparation
    (placement, traffic), simulation and the tables (each summed over platforms; ``simulation_wall`` is
    their wall time when platforms ran in parallel) and writing, s."""
    parts = [f"tracing {timings.get('tracing', 0.0):.1f} s", f"preparation {timings.get('preparation', 0.0):.1f} s",
             f"simulation {timings.get('simulation', 0.0):.1f} s"]
    if "tables" in timings:
        parts.append(f"tables {timings['tables']:.1f} s")
    wall = timings.get("simulation_wall")
    if wall is not None:
        parts[-1] += f" ({'preparation, simulation and tables' if 'tables' in timings else 'preparation + simulation'} {wall:.1f} s wall)"
    parts.append(f"writing {timings.get('writing', 0.0):.1f} s")
    return f"time: {', '.join(parts)}; total {total_s:.1f} s"
