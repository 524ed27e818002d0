"""The ``hetsim`` command line: one entry point, one subcommand module per command.

Each module in ``simulator/cli/commands`` exposes ``register(subparsers)``; it adds its subparser and sets
``func`` to a callable ``(args) -> int``. User errors (bad YAML, unknown names, malformed specs) print one
line and exit with code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from simulator._version import __version__

#: Command modules, in the order ``--help`` lists them.
COMMANDS = ("run", "sweep", "models", "trace", "platforms", "reproduce", "golden")

EPILOG = """\
examples:
  hetsim run                         the default study: adapter-ALBERT on six platforms
  hetsim run study.yaml              a study of your own (see README)
  hetsim models                      the model zoo with parameter counts
  hetsim trace albert-base-v2 --adapter houlsby:64 --tasks sst2,mnli
  hetsim platforms show edge-rram    memories, bandwidths, energies, area of a platform
  hetsim reproduce all               the seed studies' figures, PNG/PDF/CSV and reproduce.md
  hetsim golden check golden.json    re-run a pinned study; exit 1 if a figure moved

Every command has its own --help. Units: SI inside; `run` prints energies per inference in mJ (or the unit
that reads best), latencies in ms, power in mW, area in mm²; `platforms show` prints pJ per access, ns,
mW, mm². Exit code 2: a bad input or output folder (one line on stderr); 130: interrupted."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the user's input is wrong" (exit 2, one line)."""
    import yaml

    from hw_models.errors import HardwareConfigError
    from simulator.errors import SimulationConfigError
    from workloads.errors import WorkloadError

    return (HardwareConfigError, SimulationConfigError, WorkloadError, FileNotFoundError,
            IsADirectoryError, yaml.YAMLError)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available command registered."""
    parser = argparse.ArgumentParser(
        prog="hetsim",
        description="hetsim: energy, latency, power, area and memory footprint of adapter-based and "
        "distilled language models serving a stream of tasks on accelerators with heterogeneous "
        "memories (SRAM, STT-MRAM, ReRAM, DRAM).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hetsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"simulator.cli.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hetsim`` console script. Returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    previous_term = _terminate_as_interrupt()
    try:
        return int(args.func(args) or 0)
    except user_error_types() as exc:
        msg = str(exc).strip().splitlines()
        text = msg[0] if msg else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            text = f"{exc.filename}: no such file"
        print(f"hetsim: error: {_cut(text)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hetsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`hetsim models | head`): not an error of ours; silence the flush at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the machine, not the input: a full disk, a permission, ... (one line too)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"hetsim: error: {_cut(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 2
    finally:
        if previous_term is not None:
            import signal

            signal.signal(signal.SIGTERM, previous_term)


#: Longest error line printed (characters); longer ones are cut (they quote a user's value).
MAX_MESSAGE = 400


def _cut(text: str) -> str:
    """``text`` cut to :data:`MAX_MESSAGE` characters."""
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _terminate_as_interrupt():
    """Make SIGTERM end hetsim like Ctrl-C (cleaning up temporary output); returns the old handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
