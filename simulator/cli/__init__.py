"""The ``hetsim`` command line (:mod:`simulator.cli.main`) and one module per command in
:mod:`simulator.cli.commands`."""
