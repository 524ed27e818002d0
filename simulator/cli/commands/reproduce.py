"""``hetsim reproduce [NAME ...] [-o DIR] [--list] [--quick]``: regenerate the seed studies' figures."""
from __future__ import annotations

import argparse
import sys
import time

HELP = "regenerate the seed studies' figures (PNG, PDF, CSV and reproduce.md with captions)"

DESCRIPTION = """\
Runs bundled figure recipes: each is a study or recipe YAML (simulator/reproduce/recipes/) plus a figure
function. Writes into DIR (default results/reproduce): per figure NAME.png, NAME.pdf and NAME.csv (the data
behind it, SI units), reproduce.md (every figure with a caption: what it shows, what the seed papers
publish, what this run gives, the assumptions behind any difference) and summary.json. DIR must be new
or empty; --overwrite replaces an earlier hetsim output there (only its own files); a folder holding
other files is refused. Nothing changes in DIR unless every figure set succeeds."""

EPILOG = """\
examples:
  hetsim reproduce --list              the figure sets and what each shows
  hetsim reproduce all                 every figure set into results/reproduce/
  hetsim reproduce footprint mappings -o figs
  hetsim reproduce all --quick         reduced size (fewer requests and points): checks the pipeline
"""


def register(subparsers) -> None:
    """Add the ``reproduce`` subcommand."""
    p = subparsers.add_parser("reproduce", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help="figure sets to make (default: all)")
    p.add_argument("-o", "--out", metavar="DIR", default="results/reproduce",
                   help="output folder (default: results/reproduce)")
    p.add_argument("--list", action="store_true", help="list the figure sets and exit")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier hetsim output in DIR (only the files hetsim wrote there)")
    p.add_argument("--quick", action="store_true",
                   help="reduced size: fewer requests, tasks and points (for tests; not for a paper)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List or run the recipes of ``args``; returns the exit code."""
    from simulator.reproduce import core

    if args.list:
        recipes = core.resolve(["all"])
        width = max(len(r.name) for r in recipes)
        for r in recipes:
            print(f"{r.name:<{width}}  {r.title}: {r.summary} ({r.config})")
        return 0
    started = time.perf_counter()

    def done(r: core.RecipeRun) -> None:
        names = ", ".join(f.stem for f in r.figures)
        print(f"{r.recipe.name:<12} {r.seconds:7.1f} s  {names}")
        sys.stdout.flush()

    progress = not args.no_progress and sys.stderr.isatty()
    runs = core.run(args.names, args.out, quick=args.quick, progress=progress, overwrite=args.overwrite,
                    on_done=done)
    problems = [f"{f.stem}: {p}" for r in runs for f in r.figures for p in f.problems]
    for p in problems:
        print(f"hetsim: warning: {p}", file=sys.stderr)
    n = sum(len(r.figures) for r in runs)
    print(f"wrote {args.out}/ in {time.perf_counter() - started:.1f} s: {n} figures (PNG, PDF, CSV each), "
          "reproduce.md, summary.json")
    return 0
