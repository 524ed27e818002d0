"""The cost layer shared by both simulators: the one place bytes and cycles become joules and seconds
(:mod:`simulator.cost.tables`). Built on :mod:`simulator.prepare`; used by :mod:`simulator.engine` and
:mod:`simulator.analytic`."""
