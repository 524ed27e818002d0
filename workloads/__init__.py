"""hetsim workload layer: real torch execution traced into torch-free Traces.

Importing this package does not import torch; the tracer and the model zoo import it on use:
``workloads.trace_model``, ``workloads.Tracer``, ``workloads.trace_tasks`` (one Trace per task) and
``workloads.trace_generation`` (prefill plus decode steps) are resolved lazily (module ``__getattr__``).
``trace_tasks`` answers a cached request without torch."""
from .compression import CompressionPolicy
from .errors import WorkloadError
from .trace import KINDS, ROLES, OpInfo, TensorInfo, Trace, concat_traces, load_trace

# ``from workloads import *`` stays torch-free too: the lazy names are not listed here.
__all__ = ["CompressionPolicy", "KINDS", "OpInfo", "ROLES", "TensorInfo", "Trace", "WorkloadError",
           "concat_traces", "load_trace"]

_LAZY = {"trace_model": "tracer", "Tracer": "tracer", "trace_tasks": "multitask",
         "trace_generation": "generation"}


def __getattr__(name: str):
    """Import torch-using parts on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
