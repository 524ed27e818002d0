"""The discrete-event simulator (:mod:`simulator.engine.discrete_event`): requests contend for compute
units and memory ports; energy and time per op come from :mod:`simulator.cost`."""
from simulator.engine.discrete_event import simulate

__all__ = ["simulate"]
