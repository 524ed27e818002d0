"""Design-space sweeps: ``hetsim sweep`` and its Python API.

``run_sweep(spec, out_dir, workers=..., client=...)`` runs a sweep (a file, a parsed dict or a
:class:`SweepSpec`) into a folder and returns one row per point (a pandas DataFrame, SI units);
``load_sweep(DIR)`` reads a sweep folder's store back. See README ("Design-space sweeps") and
docs/sweep.md.
"""
from simulator.sweep.pareto import front, pareto_mask
from simulator.sweep.runner import load_sweep, run_sweep
from simulator.sweep.spec import SweepSpec, load_spec, spec_from_dict

__all__ = ["run_sweep", "load_sweep", "load_spec", "spec_from_dict", "SweepSpec", "pareto_mask", "front"]
