"""The sweep file: what to vary (axes), how to pick points (method), what to rank them by (objectives,
constraints), validated before any work starts.

A sweep names a base study (a bundled study name or a path) and one or more base platforms, and **axes**:
dotted paths into the platform YAML (``platform.memories.buffer.capacity``, ``platform.links.0.width_bits``)
or into the study YAML (``study.scenario.rate``, ``study.adapter``), each with a list of values written as in
those files (``[32 KiB, 64 KiB]``, ``[rram, stt-mram]``) or a range ``{from: 32 KiB, to: 1 MiB, steps: 6,
scale: log}``. A range with ``steps`` is that many discrete values; one without ``steps`` is continuous
(``random``, ``lhs`` and ``search`` only). Methods: ``grid`` (every combination), ``{random: N}``,
``{lhs: N}`` (Latin hypercube, :mod:`scipy.stats.qmc`), ``{search: N}`` (optuna's NSGA-II over the
objectives). Every axis value is applied to the base files and validated by the normal loaders here, so a
bad path, value or constraint is one line naming the sweep file and the field, before anything runs.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.units import UNITS, UnitError, parse_quantity
from simulator.errors import SimulationConfigError

#: Folder of the sweeps that ship with hetsim (``default.yaml`` runs with ``hetsim sweep`` and no file).
SWEEPS_DIR = Path(__file__).parent / "sweeps"
DEFAULT_SWEEP = SWEEPS_DIR / "default.yaml"
#: Keys of a sweep file.
KEYS = ("name", "description", "study", "platform", "platforms", "axes", "method", "seed", "evaluator",
        "confirm_front", "objectives", "constraints", "requests", "color_by", "chunk_rows")
METHODS = ("grid", "random", "lhs", "search")
EVALUATORS = ("analytic", "engine")
#: The SI unit written after a generated range value, per dimension of hw_models.units.
SI_UNIT = {"bytes": "B", "energy": "J", "time": "s", "power": "W", "area": "m2", "frequency": "Hz",
           "voltage": "V", "length": "m", "rate": "T/s", "power_density": "W/m2"}
#: Unit dimension of a metric, from the suffix of its name (metrics without one are plain numbers).
METRIC_SUFFIX = {"_J": "energy", "_s": "time", "_m2": "area", "_W": "power", "_bytes": "bytes", "_Hz": "frequency"}
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*(.+?)\s*$")


def read_yaml(path: Path, what: str) -> Any:
    """Parse a user's YAML file with hetsim's safe reader (one-line SimulationConfigError on any problem)."""
    from hw_models.yamlio import load_yaml

    return load_yaml(path, what=what, error=SimulationConfigError)


def metric_dimension(metric: str) -> str | None:
    """The unit dimension of a summary metric from its name's suffix (``latency_p99_s`` -> ``time``)."""
    for suffix, dim in METRIC_SUFFIX.items():
        if metric.endswith(suffix):
            return dim
    return None


def quantity_dimension(text: Any) -> str | None:
    """The dimension of a written quantity such as ``"32 KiB"`` (None for a bare number or a word)."""
    if not isinstance(text, str):
        return None
    m = re.match(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*(\S.*?)\s*$", text)
    if not m:
        return None
    for dim, units in UNITS.items():
        if m.group(1) in units:
            return dim
    return None


@dataclass(frozen=True)
class Axis:
    """One axis: its dotted ``path`` (``platform.…`` or ``study.…``) and either discrete ``values`` (as
    written in YAML) or a continuous range ``low``..``high`` (SI, ``dimension`` None for plain numbers,
    ``integer`` for whole numbers) on a ``scale`` of ``linear`` or ``log``."""
    path: str
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    dimension: str | None = None
    integer: bool = False

    @property
    def target(self) -> str:
        """``platform`` or ``study``."""
        return self.path.split(".", 1)[0]

    @property
    def keys(self) -> list[str]:
        """The path inside the target file."""
        return self.path.split(".")[1:]

    @property
    def discrete(self) -> bool:
        """True when the axis has a finite list of values."""
        return self.values is not None

    def value_at(self, u: float) -> Any:
        """The axis value at ``u`` in [0, 1): the ``floor(u·n)``-th value, or the range point at ``u``."""
        if self.discrete:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.scale == "log":
            x = self.low * (self.high / self.low) ** u
        else:
            x = self.low + (self.high - self.low) * u
        return self.written(x)

    def written(self, x: float) -> Any:
        """A range value ``x`` (SI) as it would be written in YAML (whole bytes and counts rounded)."""
        if self.integer or self.dimension == "bytes":
            x = float(round(x))
        if self.dimension is None:
            return int(x) if self.integer else float(x)
        return f"{x!r} {SI_UNIT[self.dimension]}"


@dataclass(frozen=True)
class Constraint:
    """``metric op bound`` (bound in SI): e.g. ``latency_p99_s <= 0.1``."""
    metric: str
    op: str
    bound: float
    text: str

    def holds(self, values: Any) -> Any:
        """Whether the constraint holds for a value or an array of values (NaN fails)."""
        return _OPS[self.op](values, self.bound)


@dataclass
class SweepSpec:
    """A validated sweep (see the module docstring). ``platforms``: the base platform entries (dicts with
    ``platform`` and ``mode``); ``objectives``: metric -> ``min``/``max``."""
    name: str
    source: str
    study: str
    platforms: list[dict]
    axes: list[Axis]
    method: str = "grid"
    n: int | None = None
    seed: int = 0
    evaluator: str = "analytic"
    confirm_front: bool = False
    objectives: dict[str, str] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    requests: int | None = None
    description: str = ""
    color_by: str | None = None
    chunk_rows: int = 2000
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def base_dir(self) -> Path:
        """Folder relative paths in the sweep file are read from."""
        return Path(self.source).parent if self.source not in ("<sweep>", str(DEFAULT_SWEEP)) else Path.cwd()

    @property
    def digest(self) -> str:
        """A hash of the sweep file's content (what was asked, not what it resolves to)."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def axis_paths(self) -> list[str]:
        """Column names of the axes in the store (``platform`` first when several base platforms)."""
        return (["platform"] if len(self.platforms) > 1 else []) + [a.path for a in self.axes]


def _err(source: str, where: str, problem: str) -> SimulationConfigError:
    return SimulationConfigError(f"{source}: {where}: {problem}")


def _range(source: str, path: str, spec: dict, method: str) -> Axis:
    where = f"axes.{path}"
    unknown = [k for k in spec if k not in ("from", "to", "steps", "scale")]
    if unknown:
        raise _err(source, f"{where}.{unknown[0]}", "unknown key; expected from, to, steps, scale")
    for key in ("from", "to"):
        if key not in spec:
            raise _err(source, f"{where}.{key}", "missing; expected a value with a unit, such as '32 KiB', or a number")
    scale = spec.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise _err(source, f"{where}.scale", f"got {scale!r}; expected linear or log")
    lo_raw, hi_raw = spec["from"], spec["to"]
    dim = quantity_dimension(lo_raw)
    try:
        if dim is None:
            if isinstance(lo_raw, bool) or not isinstance(lo_raw, (int, float)):
                raise UnitError(f"got {lo_raw!r}; expected a number or a quantity with a unit, such as '32 KiB'")
            if isinstance(hi_raw, bool) or not isinstance(hi_raw, (int, float)):
                raise UnitError(f"got {hi_raw!r} after a plain number; expected a number")
            lo, hi = float(lo_raw), float(hi_raw)
        else:
            lo = parse_quantity(lo_raw, dim)
            hi = parse_quantity(hi_raw, dim)
    except UnitError as exc:
        raise _err(source, where, str(exc)) from None
    if not lo < hi:
        raise _err(source, where, f"from {lo_raw!r} is not below to {hi_raw!r}; expected from < to")
    if scale == "log" and lo <= 0:
        raise _err(source, f"{where}.from", f"got {lo_raw!r} on a log scale; expected a value above 0")
    integer = dim is None and isinstance(lo_raw, int) and isinstance(hi_raw, int)
    axis = Axis(path, None, lo, hi, scale, dim, integer)
    steps = spec.get("steps")
    if steps is None:
        if method == "grid":
            raise _err(source, f"{where}.steps", "missing; expected the number of values (a grid needs "
                       "discrete axes; a range without steps is for random, lhs and search)")
        return axis
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise _err(source, f"{where}.steps", f"got {steps!r}; expected an integer >= 2")
    xs = np.geomspace(lo, hi, steps) if scale == "log" else np.linspace(lo, hi, steps)
    xs[0], xs[-1] = lo, hi
    values = tuple(dict.fromkeys(axis.written(float(x)) for x in xs))
    return Axis(path, values, dimension=dim, integer=integer)


def _method(source: str, value: Any) -> tuple[str, int | None]:
    if value in (None, "grid"):
        return "grid", None
    if isinstance(value, dict) and len(value) == 1:
        (kind, n), = value.items()
        if kind in METHODS[1:]:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise _err(source, f"method.{kind}", f"got {n!r}; expected a number of points >= 1")
            return kind, n
    raise _err(source, "method", f"got {value!r}; expected grid, {{random: N}}, {{lhs: N}} or {{search: N}}")


def parse_constraint(source: str, index: int, text: Any, metrics: tuple[str, ...]) -> Constraint:
    """``"latency_p99_s <= 100 ms"`` -> Constraint (bound in SI); one-line error naming the field."""
    where = f"constraints.{index}"
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if m is None:
        raise _err(source, where, f"got {text!r}; expected 'METRIC <= VALUE' (or <, >=, >), such as "
                   "'latency_p99_s <= 100 ms'")
    metric, op, value = m.groups()
    if metric not in metrics:
        raise _err(source, where, f"unknown metric {metric!r}; expected one of {', '.join(metrics)}")
    dim = metric_dimension(metric)
    try:
        if dim is None:
            bound = float(value)
        else:
            bound = parse_quantity(value, dim)
    except (UnitError, ValueError) as exc:
        problem = str(exc) if isinstance(exc, UnitError) else f"got {value!r}; expected a plain number"
        raise _err(source, where, problem) from None
    return Constraint(metric, op, bound, text.strip())


def spec_from_dict(data: Any, source: str = "<sweep>") -> SweepSpec:
    """Validate the shape of a parsed sweep file (axis values are checked against the base files by
    :func:`simulator.sweep.points.validate_axes`)."""
    from simulator.sweep.metrics import METRICS

    if not isinstance(data, dict):
        raise _err(source, "(top level)", f"got {type(data).__name__}; expected a mapping with study, "
                   "platform, axes, method, ...")
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise _err(source, str(unknown[0]), f"unknown key; expected one of {', '.join(KEYS)}")
    name = data.get("name", Path(source).stem if source != "<sweep>" else "sweep")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise _err(source, "name", f"got {name!r}; expected letters, digits, '_', '.', '-'")
    study = data.get("study", "default")
    if not isinstance(study, str) or not study:
        raise _err(source, "study", f"got {study!r}; expected a bundled study name or a path to a study YAML")
    if "platform" in data and "platforms" in data:
        raise _err(source, "platforms", "given with platform; expected one of the two")
    raw_platforms = [data["platform"]] if "platform" in data else data.get("platforms")
    platforms: list[dict] = []
    if raw_platforms is not None:
        if not isinstance(raw_platforms, list) or not raw_platforms:
            raise _err(source, "platforms", f"got {raw_platforms!r}; expected a list of platform names or paths")
        for i, entry in enumerate(raw_platforms):
            entry = {"platform": entry} if isinstance(entry, str) else entry
            if not isinstance(entry, dict) or not isinstance(entry.get("platform"), str) or \
                    set(entry) - {"platform", "mode", "model", "adapter"} or \
                    entry.get("mode", "adapters") not in ("adapters", "per-task-model"):
                raise _err(source, f"platforms.{i}", f"got {entry!r}; expected a platform name or path, or "
                           "{platform: NAME, mode: adapters|per-task-model, model: ..., adapter: ...}")
            platforms.append({"mode": "adapters", **entry})
    method, n = _method(source, data.get("method"))
    axes_raw = data.get("axes")
    if not isinstance(axes_raw, dict) or not axes_raw:
        raise _err(source, "axes", f"got {axes_raw!r}; expected a mapping of dotted paths "
                   "(platform.memories.buffer.capacity, study.scenario.rate, ...) to values or ranges")
    axes = []
    for path, values in axes_raw.items():
        if not isinstance(path, str) or not re.fullmatch(r"(platform|study)(\.[A-Za-z0-9_\-]+)+", path):
            raise _err(source, f"axes.{path}", "malformed path; expected platform.<field>.<field>... or "
                       "study.<field>..., such as platform.memories.buffer.capacity")
        if path in ("study.platforms", "study.outputs", "study.name", "study.evaluator") or \
                path.startswith(("study.platforms.", "study.outputs.")):
            raise _err(source, f"axes.{path}", "not sweepable; expected a platform.* path or a study field "
                       "of the workload or scenario")
        if isinstance(values, dict):
            axes.append(_range(source, path, values, method))
        elif isinstance(values, list) and values:
            if len(set(map(repr, values))) != len(values):
                raise _err(source, f"axes.{path}", f"values repeat in {values!r}; expected distinct values")
            axes.append(Axis(path, tuple(values)))
        else:
            raise _err(source, f"axes.{path}", f"got {values!r}; expected a list of values or "
                       "{from: ..., to: ..., steps: N, scale: linear|log}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _err(source, "seed", f"got {seed!r}; expected an integer >= 0")
    evaluator = data.get("evaluator", "analytic")
    if evaluator not in EVALUATORS:
        raise _err(source, "evaluator", f"got {evaluator!r}; expected analytic or engine")
    confirm = data.get("confirm_front", False)
    if not isinstance(confirm, bool):
        raise _err(source, "confirm_front", f"got {confirm!r}; expected true or false")
    objectives_raw = data.get("objectives", {"energy_per_inference_J": "min", "area_m2": "min",
                                             "latency_p99_s": "min"})
    if not isinstance(objectives_raw, dict) or not objectives_raw:
        raise _err(source, "objectives", f"got {objectives_raw!r}; expected a mapping of metric to min or max")
    for metric, sense in objectives_raw.items():
        if metric not in METRICS:
            raise _err(source, f"objectives.{metric}", f"unknown metric; expected one of {', '.join(METRICS)}")
        if sense not in ("min", "max"):
            raise _err(source, f"objectives.{metric}", f"got {sense!r}; expected min or max")
    constraints_raw = data.get("constraints", [])
    if not isinstance(constraints_raw, list):
        raise _err(source, "constraints", f"got {constraints_raw!r}; expected a list such as "
                   "['latency_p99_s <= 100 ms']")
    constraints = [parse_constraint(source, i, c, METRICS) for i, c in enumerate(constraints_raw)]
    requests = data.get("requests")
    if requests is not None and (isinstance(requests, bool) or not isinstance(requests, int) or requests < 1):
        raise _err(source, "requests", f"got {requests!r}; expected an integer >= 1")
    if method == "grid":
        total = math.prod(len(a.values) for a in axes) * max(1, len(platforms))
        if total > 10_000_000:
            raise _err(source, "axes", f"a grid of {total} points; expected at most 10,000,000 (use random, "
                       "lhs or search)")
    if method == "search" and not objectives_raw:
        raise _err(source, "objectives", "missing; expected the metrics a search optimises")
    color_by = data.get("color_by")
    paths = [a.path for a in axes] + (["platform"] if len(platforms) > 1 else [])
    if color_by is not None and color_by not in paths:
        raise _err(source, "color_by", f"got {color_by!r}; expected one of the axes: {', '.join(paths)}")
    chunk_rows = data.get("chunk_rows", 2000)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise _err(source, "chunk_rows", f"got {chunk_rows!r}; expected an integer >= 1")
    description = data.get("description", "")
    return SweepSpec(name=name, source=source, study=study, platforms=platforms, axes=axes, method=method,
                     n=n, seed=seed, evaluator=evaluator, confirm_front=confirm, objectives=dict(objectives_raw),
                     constraints=constraints, requests=requests, description=str(description),
                     color_by=color_by, chunk_rows=chunk_rows, raw=copy.deepcopy(data))


def load_spec(path: str | Path | None = None) -> SweepSpec:
    """Read a sweep file (the bundled default sweep without ``path``) and check its shape."""
    path = Path(path) if path is not None else DEFAULT_SWEEP
    return spec_from_dict(read_yaml(path, "sweep"), str(path))
