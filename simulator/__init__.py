"""hetsim simulator layer: placement, mapping, the SimPy engine, the analytic evaluator, results and CLI.

Never imports torch at module level (see docs/interfaces.md)."""
from simulator._version import __version__

__all__ = ["__version__"]
