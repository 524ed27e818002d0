"""What a run produces and how it is shown: the run output and its ledger
(:mod:`simulator.results.run_output`), the result with its tables and Perfetto export
(:mod:`simulator.results.result`), the text/markdown report (:mod:`simulator.results.report`) and the
figures (:mod:`simulator.results.plots`). Imports nothing from prepare, cost, engine or analytic."""
