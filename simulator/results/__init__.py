"""What a run produces and how it is shown: the one typed result of a run (:mod:`simulator.results.result`),
built by the evaluators through :mod:`simulator.results.build` over the ledger (:mod:`simulator.results.ledger`),
and its exporters, each in its own module: the tables and summary (:mod:`simulator.results.tables`), the
text/markdown report (:mod:`simulator.results.report`), the Perfetto timeline
(:mod:`simulator.results.perfetto`) and the figures (:mod:`simulator.results.plots`). Imports nothing from
prepare, cost, engine or analytic."""

from simulator.results.result import Result

__all__ = ["Result"]
