"""Hypothesis strategies for hetsim's pieces, each able to take *your* pieces instead of (or beside) ours.

Two families:

- **library hardware** (what the cost models say): :func:`technologies` (bundled ones plus your files or
  Technology objects), :func:`memories` (a technology at random capacity, word width, banks, ports and
  node; your technologies and your memory factory welcome), :func:`mac_arrays`, :func:`vector_units`,
  :func:`units` (any unit objects or strategies of yours beside ours), :func:`operating_points`,
  :func:`technology_platforms` (whole valid platforms from technologies);
- **synthetic stress** (arbitrary figures that stress the simulator, not hardware claims):
  :func:`synthetic_memories` and :func:`platforms` (an SRAM, an NVM and a DRAM of random figures, random
  roles and policies; ``memories=`` puts your memories in).

Workloads: :func:`traces` (synthetic transformer-like), :func:`model_traces` (real zoo models at reduced
size, traced through the cache; needs torch), :func:`request_streams`, :func:`workloads` (your traces
and streams welcome), :func:`scenarios` (workload, platform) pairs.

Every parameter that takes "yours" accepts a value, a list of values or a hypothesis strategy.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

from hypothesis import strategies as st

from hw_models.compute import MacArray, VectorUnit
from hw_models.dvfs import OperatingPoint
from hw_models.link import COMPUTE, Link
from hw_models.memory import Memory
from hw_models.placement_policy import PlacementPolicy
from hw_models.platform import Platform
from hw_models.vocabulary import ADAPTER_MODES, ON_OVERFLOW, ROLES
from hw_models.technology import Technology, list_technologies, load_technology
from simulator.prepare import streams
from simulator.testing.builders import as_technology, make_memory, make_platform, make_trace
from simulator.prepare.served_workload import Workload

#: Node sizes (m) the strategies draw from.
NODES_M = (7e-9, 12e-9, 16e-9, 22e-9, 28e-9, 40e-9, 65e-9)


def _bundled(dram: bool | None) -> tuple[str, ...]:
    return tuple(t for t in list_technologies() if dram is None or load_technology(t).is_dram == dram)


#: Bundled on-chip technologies (SRAM and NVM arrays) and DRAM technologies, by name.
ON_CHIP = _bundled(False)
DRAM = _bundled(True)


def _one_of(values: Any, convert: Callable[[Any], Any] = lambda v: v) -> st.SearchStrategy:
    """A strategy from a strategy, a single value or an iterable of values (each passed through
    ``convert``)."""
    if isinstance(values, st.SearchStrategy):
        return values.map(convert)
    if isinstance(values, (str, Path, Technology)) or not isinstance(values, Iterable):
        return st.just(convert(values))
    items = [convert(v) for v in values]
    return st.sampled_from(items)


# ------------------------------------------------------------------------------------------ library hardware
def technologies(yours: Any = (), *, bundled: bool = True, kind: str | None = None
                 ) -> st.SearchStrategy[Technology]:
    """A :class:`~hw_models.technology.Technology`: one of ``yours`` (paths to technology YAML files,
    Technology objects, or a strategy of either) and, with ``bundled``, the bundled ones. ``kind``
    (``"sram"``, ``"nvm"``, ``"dram"``, or ``"on-chip"``) keeps only that kind."""
    names: list[Any] = list(list_technologies()) if bundled else []
    if isinstance(yours, st.SearchStrategy):
        pool = st.one_of(yours.map(as_technology), st.sampled_from(names).map(as_technology)) if names \
            else yours.map(as_technology)
    else:
        items = [yours] if isinstance(yours, (str, Path, Technology)) else list(yours)
        techs = [as_technology(v) for v in items + names]
        if not techs:
            raise ValueError("technologies: nothing to draw from (no technology of yours and bundled=False)")
        pool = st.sampled_from(techs)
    if kind is None:
        return pool
    keep = (lambda t: not t.is_dram) if kind == "on-chip" else (lambda t: t.kind == kind)
    return pool.filter(keep)


@st.composite
def memories(draw, name: str = "mem", technologies: Any = ON_CHIP + DRAM, min_bytes: int = 4 * 2**10,
             max_bytes: int = 64 * 2**20, is_buffer: bool = False, node_m: float | None = None, *,
             model: Callable[..., Any] = Memory.from_technology, backed_by: str | None = None) -> Any:
    """A memory of one of ``technologies`` (bundled names, paths to your technology files, Technology
    objects, or a strategy of them) with random capacity, word width, banks, ports and node. ``model``
    builds it (default :meth:`Memory.from_technology`; pass your cost model's factory of the same
    signature to test it)."""
    tech = draw(_one_of(technologies, as_technology))
    capacity = draw(st.integers(min_bytes, max_bytes))
    return model(name, tech, capacity, word_bits=draw(st.sampled_from([16, 32, 64, 128, 256])),
                 banks=draw(st.sampled_from([1, 2, 4, 8, 16])), ports=draw(st.integers(1, 2)),
                 node_m=node_m if node_m is not None else draw(st.sampled_from(NODES_M)),
                 is_buffer=is_buffer, backed_by=backed_by)


@st.composite
def mac_arrays(draw, node_m: float = 22e-9, clock_hz: float = 1e9) -> MacArray:
    """A :class:`MacArray` of random shape, dataflow and precision."""
    sides = st.sampled_from([4, 8, 16, 32, 64])
    return MacArray(rows=draw(sides), cols=draw(sides), dataflow=draw(st.sampled_from(["ws", "os", "is"])),
                    weight_bits=draw(st.sampled_from([4, 8, 16])),
                    act_bits=draw(st.sampled_from([8, 16])), acc_bits=draw(st.sampled_from([16, 24, 32])),
                    clock_hz=clock_hz, node_m=node_m)


@st.composite
def vector_units(draw, node_m: float = 22e-9, clock_hz: float = 1e9) -> VectorUnit:
    """A :class:`VectorUnit` of random width and datapath bits."""
    return VectorUnit(lanes=draw(st.sampled_from([4, 8, 16, 32])), clock_hz=clock_hz,
                      op_bits=draw(st.sampled_from([8, 16, 32])), node_m=node_m)


def units(yours: Any = (), *, bundled: bool = True, node_m: float = 22e-9, clock_hz: float = 1e9
          ) -> st.SearchStrategy[Any]:
    """A compute unit: one of ``yours`` (unit objects, or strategies of them) and, with ``bundled``, a
    random MAC array or vector unit. Any object behind the unit protocol the invariant catalogue uses
    (see :mod:`simulator.testing.invariants`) is welcome."""
    pools: list[st.SearchStrategy] = []
    if isinstance(yours, st.SearchStrategy):
        pools.append(yours)
    else:
        items = list(yours) if isinstance(yours, (list, tuple)) else [yours]
        pools += [y if isinstance(y, st.SearchStrategy) else st.just(y) for y in items]
    if bundled:
        pools += [mac_arrays(node_m, clock_hz), vector_units(node_m, clock_hz)]
    if not pools:
        raise ValueError("units: nothing to draw from (no unit of yours and bundled=False)")
    return st.one_of(pools)


@st.composite
def operating_points(draw, nominal_voltage_V: float = 0.8) -> dict[str, OperatingPoint]:
    """One to three DVFS points, the first named "nominal" at the nominal voltage."""
    points = {"nominal": OperatingPoint("nominal", nominal_voltage_V, draw(st.sampled_from([2e8, 5e8, 1e9])),
                                        nominal_voltage_V)}
    for i in range(draw(st.integers(0, 2))):
        v = draw(st.floats(0.4, nominal_voltage_V))
        points[f"p{i}"] = OperatingPoint(f"p{i}", v, draw(st.floats(5e7, 1e9)), nominal_voltage_V)
    return points


@st.composite
def technology_platforms(draw, with_dram: bool | None = None, *, technologies: Any = ON_CHIP,
                         dram_technologies: Any = DRAM, model: Callable[..., Any] = Memory.from_technology
                         ) -> Platform:
    """A valid :class:`Platform` from the technology library: one buffer, one to three on-chip home
    memories of ``technologies`` (yours welcome, as in :func:`memories`), optionally a DRAM; every home
    linked to the buffer and to compute, the buffer linked to compute; roles spread over the homes."""
    node = draw(st.sampled_from(NODES_M))
    ops = draw(operating_points())
    clock = ops["nominal"].frequency_Hz
    buffer = draw(memories("buffer", ON_CHIP, 8 * 2**10, 512 * 2**10, True, node))
    mems: dict[str, Any] = {"buffer": buffer}
    for i in range(draw(st.integers(1, 3))):
        mems[f"home{i}"] = draw(memories(f"home{i}", technologies, 64 * 2**10, 32 * 2**20, False, node,
                                         model=model))
    if with_dram if with_dram is not None else draw(st.booleans()):
        mems["dram"] = draw(memories("dram", dram_technologies, 2**28, 2**30, False, node))
    energy = st.floats(0.0, 1e-12)
    links = [Link("buffer", COMPUTE, draw(st.sampled_from([64, 128, 256])), clock, draw(energy))]
    for name in mems:
        if name != "buffer":
            links.append(Link(name, "buffer", draw(st.sampled_from([32, 64, 128])), clock, draw(energy)))
            links.append(Link(name, COMPUTE, draw(st.sampled_from([32, 64, 128])), clock, draw(energy)))
    homes = [n for n in mems if n != "buffer"]
    roles = {role: draw(st.permutations(homes)) for role in ROLES}
    placement = PlacementPolicy(roles=roles, on_overflow=draw(st.sampled_from(ON_OVERFLOW)),
                                adapters=draw(st.sampled_from(ADAPTER_MODES)),
                                power_gating=draw(st.booleans()))
    return Platform(name="random", memories=mems, mac_array=draw(mac_arrays(node, clock)),
                    vector_unit=VectorUnit(lanes=draw(st.sampled_from([4, 8, 16, 32])), clock_hz=clock,
                                           node_m=node),
                    links=links, placement=placement, operating_points=ops, default_operating_point="nominal",
                    prefetch_depth=draw(st.integers(0, 2)), node_m=node)


# ------------------------------------------------------------------------------------------ synthetic stress
def synthetic_memories(name: str, *, volatile: bool = True, is_dram: bool = False,
                       capacity_bytes: int = 1 << 24, backed_by: str | None = None) -> st.SearchStrategy[Memory]:
    """A memory with random (plausible, positive) energies, latencies, word width, banks and leakage
    (:func:`~simulator.testing.builders.make_memory`; synthetic figures, not a technology)."""
    return st.builds(
        make_memory, st.just(name), capacity_bytes=st.just(capacity_bytes),
        read_pJ=st.floats(0.1, 600.0), write_pJ=st.floats(0.1, 600.0), read_ns=st.floats(0.2, 60.0),
        write_ns=st.floats(0.2, 200.0), leakage_mW=st.floats(0.0, 50.0),
        word_bits=st.sampled_from([32, 64, 128, 256]), banks=st.sampled_from([1, 2, 4]),
        volatile=st.just(volatile), is_dram=st.just(is_dram), backed_by=st.just(backed_by),
        wakeup_ns=st.floats(0.0, 100.0), wakeup_pJ=st.floats(0.0, 100.0), gated_fraction=st.floats(0.0, 1.0))


@st.composite
def platforms(draw, *, adapters: str | None = None, power_gating: bool | None = None,
              prefetch_depth: int | None = None, buffer: str | None = None,
              memories: dict[str, Any] | None = None) -> Platform:
    """A platform with an SRAM (backed by DRAM), an NVM and a DRAM of random figures, random role
    preferences, adapter mode, power gating, prefetch depth, MAC array shape and operating points.
    Capacities are large: placement always succeeds. ``buffer`` (``"none"``, ``"single"``, ``"double"``;
    default random): a staging buffer ``buf`` of 64 B to 64 KiB (small: the mapping must tile), single- or
    double-buffered, that no role may use as a home.

    ``memories``: name -> your memory (an object behind the memory cost protocol, a Technology or path,
    or a strategy of either) replacing ``"sram"``, ``"nvm"`` or ``"dram"`` or added as another home
    (roles then draw it like the others). A technology becomes a 16 MiB memory at 22 nm."""
    mems: dict[str, Any] = {"sram": draw(synthetic_memories("sram", backed_by="dram")),
                            "nvm": draw(synthetic_memories("nvm", volatile=False)),
                            "dram": draw(synthetic_memories("dram", is_dram=True, capacity_bytes=1 << 30))}
    for name, yours in (memories or {}).items():
        value = draw(yours) if isinstance(yours, st.SearchStrategy) else yours
        if isinstance(value, (str, Path, Technology)):
            value = Memory.from_technology(name, as_technology(value), 16 << 20, node_m=22e-9)
        if getattr(value, "name", name) != name:
            value = replace(value, name=name)
        mems[name] = value
    perm = st.permutations(list(mems))
    kind = buffer or draw(st.sampled_from(["none", "single", "double"]))
    if kind != "none":
        buf = draw(synthetic_memories("buf", capacity_bytes=draw(st.sampled_from([64, 512, 4096, 65536]))))
        mems["buf"] = replace(buf, is_buffer=True, double_buffered=kind == "double")
    roles = {role: draw(perm) for role in ROLES}
    freq = draw(st.floats(2e8, 2e9))
    points = {"nominal": (0.8, freq)}
    if draw(st.booleans()):
        points["low"] = (draw(st.floats(0.5, 0.8)), freq * draw(st.floats(0.2, 1.0)))
    return make_platform(
        "random", mems, roles=roles,
        adapters=adapters or draw(st.sampled_from(ADAPTER_MODES)),
        power_gating=draw(st.booleans()) if power_gating is None else power_gating,
        prefetch_depth=draw(st.integers(0, 3)) if prefetch_depth is None else prefetch_depth,
        rows=draw(st.sampled_from([4, 8, 16])), cols=draw(st.sampled_from([4, 8, 16])), clock_hz=freq,
        link_pJ_per_bit=draw(st.floats(0.0, 2.0)), link_width_bits=draw(st.sampled_from([32, 64, 256])),
        op_points=points)


# ------------------------------------------------------------------------------------------ workloads
def traces(task: str = "t0", *, weight_update: bool | None = False) -> st.SearchStrategy:
    """A :func:`~simulator.testing.builders.make_trace` of random depth, sizes and bit widths
    (``weight_update``: also rewrite a weight at inference; None draws it)."""
    return st.builds(make_trace, st.just(task), layers=st.integers(1, 3), seq=st.integers(1, 16),
                     hidden=st.integers(2, 32), bottleneck=st.integers(1, 8), vocab=st.integers(8, 128),
                     weight_bits=st.sampled_from([4, 8, 16]), act_bits=st.sampled_from([8, 16, 32]),
                     adapter_per_layer=st.booleans(),
                     weight_update=st.booleans() if weight_update is None else st.just(weight_update))


#: Zoo models small enough to trace in a few seconds at 1 layer, width 64 (:func:`model_traces`).
SMALL_MODELS = ("tinybert-4l-312", "distilbert", "albert-base-v2")


def model_traces(models: Any = SMALL_MODELS, *, tasks: tuple[str, ...] = ("sst2", "mnli"),
                 adapters: Any = ("houlsby:8", "lora:4", None), layers: int = 1, hidden: int = 64,
                 seq_len: Any = (8, 16)) -> st.SearchStrategy[dict]:
    """``{task: Trace}`` of a real zoo model (``models``: names, yours added to the zoo welcome) at
    reduced size with one of ``adapters`` (None: the plain backbone), traced through the trace cache.
    Needs torch (the first draw of a shape traces it: seconds; later ones load it: milliseconds)."""
    def trace(args):
        from workloads.multitask import trace_tasks
        model, adapter, seq = args
        return trace_tasks(model, list(tasks), adapter=adapter, seq_len=seq, layers=layers, hidden=hidden)
    return st.tuples(_one_of(models), _one_of(adapters), _one_of(seq_len)).map(trace)


@st.composite
def request_streams(draw, tasks: list[str], *, max_requests: int = 6) -> streams.RequestStream:
    """A fixed, round-robin or Poisson stream over ``tasks`` (periods and rates from µs to ms)."""
    kind = draw(st.sampled_from(["fixed", "round_robin", "poisson"]))
    n = draw(st.integers(1, max_requests))
    if kind == "fixed":
        return streams.fixed(draw(st.lists(st.sampled_from(tasks), min_size=n, max_size=n)),
                             draw(st.floats(0.0, 1e-3)))
    if kind == "round_robin":
        return streams.round_robin(tasks, n, draw(st.floats(0.0, 1e-3)))
    mix = {t: draw(st.floats(0.1, 1.0)) for t in tasks}
    return streams.poisson(mix, n, draw(st.floats(1e2, 1e6)), draw(st.floats(0.0, 1.0)),
                           draw(st.integers(0, 2**31)))


@st.composite
def workloads(draw, *, max_tasks: int = 3, max_requests: int = 6, traces: Any = None, stream: Any = None,
              weight_update: bool | None = False) -> Workload:
    """A multi-task workload. By default one synthetic trace shape for every task (shared backbone,
    task-owned adapters and heads) and a random stream over the tasks. ``traces``: your ``{task: Trace}``
    (or a strategy of them, e.g. :func:`model_traces`); ``stream``: your request stream, or a function
    ``tasks -> strategy`` of streams (default :func:`request_streams`)."""
    if traces is not None:
        per_task = draw(traces) if isinstance(traces, st.SearchStrategy) else traces
        tasks = list(per_task)
    else:
        tasks = [f"t{i}" for i in range(draw(st.integers(1, max_tasks)))]
        update = draw(st.booleans()) if weight_update is None else weight_update
        shape = dict(layers=draw(st.integers(1, 3)), seq=draw(st.integers(1, 16)),
                     hidden=draw(st.integers(2, 32)), bottleneck=draw(st.integers(1, 8)),
                     weight_bits=draw(st.sampled_from([4, 8, 16])), act_bits=draw(st.sampled_from([8, 16, 32])),
                     adapter_per_layer=draw(st.booleans()), weight_update=update)
        per_task = {t: make_trace(t, **shape) for t in tasks}
    if stream is None:
        chosen = draw(request_streams(tasks, max_requests=max_requests))
    elif isinstance(stream, st.SearchStrategy):
        chosen = draw(stream)
    elif callable(stream):
        chosen = draw(stream(tasks))
    else:
        chosen = stream
    return Workload("random", per_task, chosen)


def scenarios(*, workloads_: Any = None, platforms_: Any = None, **platform_kwargs
              ) -> st.SearchStrategy[tuple[Workload, Platform]]:
    """(workload, platform) pairs: ``workloads_`` / ``platforms_`` (a value, list or strategy; yours
    welcome) or the random ones; ``platform_kwargs`` fix choices of :func:`platforms`."""
    w = workloads() if workloads_ is None else _one_of(workloads_)
    p = platforms(**platform_kwargs) if platforms_ is None else _one_of(platforms_)
    return st.tuples(w, p)
