"""A study: one multi-task workload served on several platforms, from a YAML file a user edits.

A study names the model, its task adaptation (adapters), the tasks, the compression policy, the request
scenario, the platforms to compare and what to write. :func:`load_study` validates it (pydantic v2) into a
:class:`StudyConfig`; a bad file raises :class:`~simulator.errors.SimulationConfigError` with one line
``<file>: <field.path>: <problem>; expected <what>``. :func:`run_study` traces the tasks (through the
trace cache), builds the request stream once and simulates it on every platform, returning one
:class:`~simulator.results.Result` per platform; :func:`save_study` writes the run folder atomically.

Two ways a platform can serve the tasks (``platforms[i].mode``):

- ``adapters`` (default): one backbone shared by all tasks (owner ``"shared"``, placed once), with each
  task's adapters and head owned by the task; on a task switch only those are loaded (placement policy
  ``adapters: load_on_switch``) or they are all resident.
- ``per-task-model``: the conventional baseline, one fully fine-tuned model per task, no sharing. The
  study traces the model *without* adapters and gives every parameter to its task (owner = task name),
  so the placement treats the whole parameter set like a task's adapters: with ``load_on_switch`` and a
  backed memory the whole model is reloaded from its backing store (DRAM) on every switch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_serializer,
                      field_validator, model_validator)

from hw_models.schema import Energy, Frequency, PositiveTime, Time, explain_error, within
from hw_models.vocabulary import PARAMETER_ROLES
from hw_models.yamlio import shorten
from simulator.errors import SimulationConfigError
from simulator.prepare.streams import MAX_REQUESTS, check_count

#: Folder of the studies that ship with hetsim (``default.yaml`` is the default study).
STUDIES_DIR = Path(__file__).parent.parent / "studies"
#: The study ``hetsim run`` runs with no argument.
DEFAULT_STUDY = STUDIES_DIR / "default.yaml"
#: Serving modes of a platform (see the module docstring).
MODES = ("adapters", "per-task-model")

Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompressionConfig(_Strict):
    """Storage bits per element and pruned fraction per tensor role (workloads.CompressionPolicy)."""
    bits: dict[str, Annotated[int, Field(ge=1, le=64)]] = {}
    sparsity: dict[str, Annotated[float, Field(ge=0.0, lt=1.0)]] = {}

    @field_validator("bits", "sparsity")
    @classmethod
    def _known_roles(cls, value: dict) -> dict:
        from hw_models.vocabulary import ROLES

        unknown = [r for r in value if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r}; expected one of {', '.join(ROLES)}")
        return value


class ScenarioConfig(_Strict):
    """The request stream: ``stream`` kind, number of ``requests``, mean arrival ``rate`` (Poisson) or
    ``period`` (fixed, round-robin), ``switch_probability`` between consecutive requests (Poisson),
    ``task_mix`` weights (default: equal), an explicit ``sequence`` of tasks (fixed) and the ``seed``;
    ``max_in_flight``: requests served at once (more than 1: they contend for memories and units, the
    engine simulates every event) and ``engine``: which runs those events (``auto``: the compiled event
    loop above 100,000 ops, else SimPy; the same numbers either way)."""
    stream: Literal["poisson", "round_robin", "fixed"] = "poisson"
    requests: Annotated[int, Field(ge=1, le=MAX_REQUESTS, strict=True)] = 100
    rate: Annotated[Frequency, within(None, 1e9, "at most 1 GHz")] = 10.0
    period: Annotated[PositiveTime, within(1e-9, 1e6, "1 ns to 1e6 s")] = 0.1
    switch_probability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    task_mix: dict[str, Annotated[float, Field(ge=0.0)]] | None = None
    sequence: list[str] | None = None
    seed: Annotated[int, Field(ge=0, strict=True)] = 0
    operating_point: str | None = None
    max_in_flight: Annotated[int, Field(ge=1, le=1024, strict=True)] = 1
    engine: Literal["auto", "simpy", "compiled"] = "auto"

    @field_serializer("rate")
    def _rate_with_unit(self, value: float) -> str:
        return f"{value:g} Hz"

    @field_serializer("period")
    def _period_with_unit(self, value: float) -> str:
        return f"{value:g} s"


class EntropyExitConfig(_Strict):
    """Entropy statistics of the exit heads (nats): mean entropy after layer 1 (``first``) and after the
    last layer (``last``), falling geometrically in between; ``spread``: the per-request log-normal
    spread (one draw per request, shared by its exits); a request exits at the first exit whose entropy
    is below ``threshold`` (see :mod:`simulator.prepare.early_exit`)."""
    first: Annotated[float, Field(gt=0)] = 1.0
    last: Annotated[float, Field(gt=0)] = 0.05
    spread: Annotated[float, Field(ge=0)] = 0.5
    threshold: Annotated[float, Field(gt=0)]


class EarlyExitConfig(_Strict):
    """Early exit (EdgeBERT): highway heads after the layers in ``exits`` (``all``: after every layer but
    the last; with ``pooler`` each head has its own pooler), and where each request exits: exactly one of
    ``table`` (``{layer: weight}``), ``entropy`` (statistics + threshold) or ``per_request`` (the exit
    layer of every request); drawn with ``seed`` (default: the scenario's)."""
    exits: Literal["all"] | Annotated[list[Annotated[int, Field(ge=1, strict=True)]], Field(min_length=1)] = "all"
    pooler: bool = False
    table: dict[Annotated[int, Field(ge=1)], Annotated[float, Field(ge=0)]] | None = None
    entropy: EntropyExitConfig | None = None
    per_request: list[Annotated[int, Field(ge=1, strict=True)]] | None = None
    seed: Annotated[int, Field(ge=0, strict=True)] | None = None

    @model_validator(mode="after")
    def _one_distribution(self) -> "EarlyExitConfig":
        given = [k for k in ("table", "entropy", "per_request") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"{' and '.join(given) or 'no distribution'} given; expected exactly one of table, "
                             "entropy or per_request")
        return self

    def distribution(self) -> dict:
        """The one distribution given, as ``{kind: value}`` for
        :func:`simulator.prepare.early_exit.draw_exit_layers`."""
        for k in ("table", "entropy", "per_request"):
            value = getattr(self, k)
            if value is not None:
                return {k: value.model_dump() if isinstance(value, BaseModel) else value}
        return {}


class DvfsConfig(_Strict):
    """Per-request DVFS (:mod:`simulator.study.dvfs`): ``policy`` edgebert (least energy meeting
    ``latency_target`` for the request's exit layer), fixed (at ``operating_point``) or race_to_idle;
    ``switch_time``/``switch_energy``: the regulator and PLL transition on a change of point (assumptions:
    1 µs for a fast LDO and an all-digital PLL relocking; 2.4 nJ = C·V·ΔV for ~10 nF of on-die decoupling at
    0.8 V and a 0.3 V step); ``targets``: the latency targets of the energy-vs-target figure (default: a
    range around the full model's latency)."""
    policy: Literal["edgebert", "fixed", "race_to_idle"] = "edgebert"
    latency_target: PositiveTime | None = None
    operating_point: str | None = None
    switch_time: Time = 1e-6
    switch_energy: Energy = 2.4e-9
    targets: list[PositiveTime] | None = None

    @model_validator(mode="after")
    def _target_for_edgebert(self) -> "DvfsConfig":
        if self.policy == "edgebert" and self.latency_target is None:
            raise ValueError("policy edgebert needs latency_target; expected a time such as 20 ms")
        return self

    @field_serializer("latency_target", "switch_time")
    def _time_with_unit(self, value: float | None) -> str | None:
        return None if value is None else f"{value:g} s"

    @field_serializer("switch_energy")
    def _energy_with_unit(self, value: float) -> str:
        return f"{value:g} J"

    @field_serializer("targets")
    def _targets_with_unit(self, value: list[float] | None) -> list[str] | None:
        return None if value is None else [f"{v:g} s" for v in value]


class GenerationConfig(_Strict):
    """Autoregressive generation per request (``workloads.generation.trace_generation``): a prompt of
    ``prompt_len`` tokens, ``new_tokens`` decode steps, a beam search of ``beams`` (re-ranking and cache
    reordering traced), ``constrained: trie`` to a trie of ``items`` random item ids (LightLM). For T5-family
    models (lightlm) and rwkv; the study's ``adapter`` may be ``prosg:R`` (rwkv) or left unset."""
    prompt_len: Annotated[int, Field(ge=1, strict=True)] = 32
    new_tokens: Annotated[int, Field(ge=0, strict=True)] = 8
    beams: Annotated[int, Field(ge=1, strict=True)] = 1
    constrained: Literal["trie"] | None = None
    items: Annotated[int, Field(ge=1, strict=True)] = 1000


class PlatformEntry(_Strict):
    """A platform to run: ``platform`` (a bundled name or a path to a platform YAML), how it serves the
    tasks (``mode``), the ``label`` it gets in tables (default: the bundled name, or the file's stem:
    ``my-chip`` for ``chips/my-chip.yaml``, whatever its ``name:`` says) and, to compare methods in one
    study, the ``model`` and ``adapter`` spec this entry serves (default: the study's)."""
    platform: str = Field(min_length=1)
    mode: Literal["adapters", "per-task-model"] = "adapters"
    label: Name | None = None
    model: str | None = Field(default=None, min_length=1)
    adapter: str | None = Field(default=None, min_length=1)

    @property
    def key(self) -> str:
        """The label of this entry in results (its ``label``, else the platform's file stem or name)."""
        return self.label or Path(self.platform).stem

    def serves(self, config: "StudyConfig") -> tuple[str, str, str | None]:
        """``(model, mode, adapter spec or None)`` this entry serves: its own or the study's."""
        adapter = (self.adapter or config.adapter) if self.mode == "adapters" else None
        return self.model or config.model, self.mode, adapter

    def method(self, config: "StudyConfig") -> str:
        """The method this entry runs, for tables and figures: ``houlsby:8``, ``per-task model``, prefixed
        by the model when it is not the study's (``distilbert-base + lora:8``)."""
        model, mode, adapter = self.serves(config)
        what = "per-task model" if mode == "per-task-model" else (adapter or "no adapter")
        return what if model == config.model else f"{model} + {what}" if adapter else f"{model} ({what})"


class OutputsConfig(_Strict):
    """What to write: the run ``dir`` (default ``results/<name>-<timestamp>``), figure ``formats``,
    whether to keep the full ``ledger`` CSV, how many requests the Perfetto timeline shows in detail
    (``perfetto_requests``) and the timeline figure shows (``timeline_requests``)."""
    dir: str | None = None
    formats: list[Literal["png", "pdf", "svg"]] = ["png", "pdf"]
    ledger: bool = False
    perfetto_requests: Annotated[int, Field(ge=0, le=MAX_REQUESTS, strict=True)] = 4
    timeline_requests: Annotated[int, Field(ge=1, le=MAX_REQUESTS, strict=True)] = 4
    figures: bool = True


class StudyConfig(_Strict):
    """A validated study (see the module docstring). ``layers``/``hidden`` shrink the zoo model (fewer
    layers, narrower hidden size: quick studies); ``source`` is the file it came from."""
    name: Name = "study"
    description: str = ""
    model: str = Field(min_length=1)
    adapter: str = "houlsby:8"
    per_repetition: bool = True
    tasks: Annotated[list[Name], Field(min_length=1)]
    seq_len: Annotated[int, Field(ge=1, le=65536, strict=True)] = 128
    layers: Annotated[int, Field(ge=1, le=1024, strict=True)] | None = None
    hidden: Annotated[int, Field(ge=1, le=65536, strict=True)] | None = None
    compression: CompressionConfig = CompressionConfig()
    scenario: ScenarioConfig = ScenarioConfig()
    platforms: Annotated[list[PlatformEntry], Field(min_length=1)]
    evaluator: Literal["engine", "analytic"] = "engine"
    early_exit: EarlyExitConfig | None = None
    dvfs: DvfsConfig | None = None
    generation: GenerationConfig | None = None
    outputs: OutputsConfig = OutputsConfig()
    _source: str = PrivateAttr(default="<study>")

    @property
    def source(self) -> str:
        """The file this study was read from (``"<study>"`` when built in code)."""
        return self._source

    @field_validator("platforms", mode="before")
    @classmethod
    def _names_are_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"platform": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("tasks")
    @classmethod
    def _distinct_tasks(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"tasks repeat in {value}; expected distinct task names")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "StudyConfig":
        keys = [p.key for p in self.platforms]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup:
            raise ValueError(f"platforms: {dup!r} appears twice; expected distinct platforms (or a label each)")
        sc = self.scenario
        if sc.max_in_flight > 1 and self.evaluator == "analytic":
            raise ValueError(f"scenario.max_in_flight: got {sc.max_in_flight} with evaluator: analytic (the closed "
                             "form has no contention); expected 1, or evaluator: engine")
        for what, names in (("task_mix", list(sc.task_mix or {})), ("sequence", list(sc.sequence or []))):
            stray = [t for t in names if t not in self.tasks]
            if stray:
                raise ValueError(f"scenario.{what}: task {stray[0]!r} is not in tasks; expected one of "
                                 f"{', '.join(self.tasks)}")
        return self

    # -- derived configurations ----------------------------------------------------------------------
    def with_overrides(self, *, requests: int | None = None, platforms: list[str] | None = None,
                       out: str | None = None) -> "StudyConfig":
        """A copy with fewer/more requests, a subset of the platforms (by key) or another output folder;
        raises SimulationConfigError for an unknown platform key or a bad count."""
        update: dict[str, Any] = {}
        if requests is not None:
            check_count(requests, "--requests")
            update["scenario"] = self.scenario.model_copy(update={"requests": int(requests)})
        if platforms is not None:
            known = {p.key: p for p in self.platforms}
            missing = [p for p in platforms if p not in known]
            if missing or not platforms:
                raise SimulationConfigError(
                    f"--platforms: {','.join(missing) or '(empty)'}: not in the study {self.source}; "
                    f"expected some of {','.join(known)}")
            update["platforms"] = [known[p] for p in platforms]
        if out is not None:
            update["outputs"] = self.outputs.model_copy(update={"dir": out})
        return self.model_copy(update=update)

    def run_dir(self, now: datetime | None = None) -> Path:
        """Where this study writes: ``outputs.dir`` or ``./results/<name>-<YYYYmmdd-HHMMSS>``."""
        if self.outputs.dir:
            return Path(self.outputs.dir)
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        return Path("results") / f"{self.name}-{stamp}"


def _error_line(source: str, exc: ValidationError) -> str:
    """One line for the first pydantic error: ``<file>: <field.path>: <problem>; expected <what>``."""
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{source}: {path}: {explain_error(err, StudyConfig)}"


def study_from_dict(data: Any, source: str = "<study>") -> StudyConfig:
    """Validate parsed YAML into a :class:`StudyConfig`; one-line SimulationConfigError when invalid."""
    if not isinstance(data, dict):
        raise SimulationConfigError(f"{source}: (top level): got {type(data).__name__}; expected a mapping "
                                    "with model, tasks, platforms, ...")
    try:
        config = StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise SimulationConfigError(_error_line(source, exc)) from None
    config._source = source
    return config


def load_study(path: str | Path) -> StudyConfig:
    """Read (:func:`hw_models.yamlio.load_yaml`) and validate a study YAML file; SimulationConfigError (one
    line) when it is missing, unreadable or invalid."""
    from hw_models.yamlio import load_yaml

    path = Path(path)
    return study_from_dict(load_yaml(path, what="study", error=SimulationConfigError), str(path))


def default_study() -> StudyConfig:
    """The default study (``simulator/studies/default.yaml``): adapter-ALBERT on six edge platforms."""
    return load_study(DEFAULT_STUDY)


# -- building the workload ---------------------------------------------------------------------------

def per_task_model(trace: Any, task: str) -> Any:
    """The trace of a conventional per-task model: every parameter (``weight``, ``embedding``,
    ``adapter``) owned by ``task`` instead of shared, so nothing is shared between tasks."""
    from workloads.trace import Trace

    tensors = {tid: dataclasses.replace(t, owner=task) if t.role in PARAMETER_ROLES else t
               for tid, t in trace.tensors.items()}
    return Trace(trace.model, task, tensors, trace.ops, {**trace.meta, "serving": "per-task-model"})


def _in_source(config: StudyConfig, exc: Exception) -> SimulationConfigError:
    """A user error about this study, re-said with the study file in front unless it already names a
    file (a platform's, say)."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = line.split(": ", 1)[0]
    if first.endswith((".yaml", ".yml")) or "/" in first:
        return SimulationConfigError(line)
    return SimulationConfigError(f"{config.source}: {line}")


def build_traces(config: StudyConfig, mode: str = "adapters", *, exits: bool = True, model: str | None = None,
                 adapter: str | None = None) -> dict[str, Any]:
    """The compressed per-task traces of ``model`` (default: the study's) adapted with ``adapter``
    (default: the study's) for serving ``mode`` (through the trace cache); with the study's early-exit
    heads unless ``exits`` is False (the no-exit baseline)."""
    from workloads import CompressionPolicy, WorkloadError
    from workloads.multitask import trace_tasks

    policy = CompressionPolicy(dict(config.compression.bits), dict(config.compression.sparsity))
    model = model or config.model
    adapter = (adapter or config.adapter) if mode == "adapters" else None
    if config.generation is not None:
        return _generation_traces(config, mode, model, adapter, policy)
    try:
        ee = config.early_exit if exits else None
        more = {"exits": ee.exits, "exit_pooler": ee.pooler} if ee is not None else {}
        traces = trace_tasks(model, list(config.tasks), adapter=adapter, seq_len=config.seq_len,
                             compression=policy, per_repetition=config.per_repetition, layers=config.layers,
                             hidden=config.hidden, **more)
    except WorkloadError as exc:
        raise _in_source(config, exc) from None
    if mode == "per-task-model":
        traces = {task: per_task_model(trace, task) for task, trace in traces.items()}
    return traces


def _generation_traces(config: StudyConfig, mode: str, model: str, adapter: str | None, policy) -> dict[str, Any]:
    """One generation trace (through the trace cache), given to every task: the tasks share the model, so
    their parameters keep the same names (placed once, owner ``shared``; per-task-model: owned by each)."""
    from workloads import WorkloadError
    from workloads import cache as trace_cache
    from workloads.trace import Trace

    g = config.generation
    if adapter is not None and "adapter" not in config.model_fields_set and not adapter.startswith("prosg"):
        adapter = None  # the study-wide default adapter is an encoder's; generation takes prosg:R or none
    kwargs = dict(new_tokens=g.new_tokens, seq_len=g.prompt_len, beams=g.beams, adapter=adapter,
                  layers=config.layers, hidden=config.hidden, constrained=g.constrained, items=g.items)
    parts = {"kind": "generation", "model": model, **kwargs}
    try:
        def build():
            from workloads.generation import trace_generation
            return trace_generation(model, **kwargs)
        trace, _ = trace_cache.cached_trace(parts, build)
    except WorkloadError as exc:
        raise _in_source(config, exc) from None
    trace = trace.with_compression(policy)
    traces = {task: Trace(trace.model, task, trace.tensors, trace.ops, dict(trace.meta)) for task in config.tasks}
    if mode == "per-task-model":
        traces = {task: per_task_model(t, task) for task, t in traces.items()}
    return traces


def build_stream(config: StudyConfig):
    """The study's request stream (:mod:`simulator.prepare.streams`), the same for every platform."""
    from simulator.prepare import streams

    sc, tasks = config.scenario, list(config.tasks)
    if sc.stream == "fixed":
        seq = list(sc.sequence) if sc.sequence else [tasks[i % len(tasks)] for i in range(sc.requests)]
        stream = streams.fixed(seq, sc.period)
    elif sc.stream == "round_robin":
        stream = streams.round_robin(tasks, sc.requests, sc.period)
    else:
        mix = dict(sc.task_mix) if sc.task_mix else {t: 1.0 for t in tasks}
        stream = streams.poisson(mix, sc.requests, sc.rate, sc.switch_probability, sc.seed)
    return stream.with_operating_point(sc.operating_point) if sc.operating_point else stream


def exit_stream(config: StudyConfig, stream, traces: dict[str, Any]):
    """``stream`` with each request's exit layer drawn from the study's ``early_exit`` distribution
    (seeded; :func:`simulator.prepare.early_exit.draw_exit_layers`) for the exits the traces hold; the stream
    unchanged without early exit."""
    if config.early_exit is None:
        return stream
    from simulator.prepare.early_exit import draw_exit_layers, exit_prefixes

    ee = config.early_exit
    L, prefixes = exit_prefixes(next(iter(traces.values())))
    seed = ee.seed if ee.seed is not None else config.scenario.seed
    try:
        layers = draw_exit_layers(ee.distribution(), len(stream), L, [k for k in prefixes if k != L], seed)
    except SimulationConfigError as exc:
        raise _in_source(config, exc) from None
    return stream.with_fields(exit_layer=layers)


def platform_reference(config: StudyConfig, index: int) -> str | Path:
    """Platform ``index`` of the study: its bundled name (str), or the path of its platform YAML file,
    relative to the study file when it is found there, else to the current folder."""
    from hw_models import list_platforms

    ref = config.platforms[index].platform
    candidate = Path(ref)
    if not candidate.is_absolute() and config.source not in ("<study>", str(DEFAULT_STUDY)):
        beside = Path(config.source).parent / candidate
        candidate = beside if beside.exists() else candidate
    if ref in list_platforms():
        return ref
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    raise SimulationConfigError(f"{config.source}: platforms.{index}.platform: {shorten(ref)} is neither a "
                                f"bundled platform nor a platform YAML file; expected one of "
                                f"{', '.join(list_platforms())} or a path")


def resolve_platform(config: StudyConfig, index: int) -> Path:
    """The YAML file of platform ``index`` of the study: a bundled platform's file, or the user's file (see
    :func:`platform_reference`). SimulationConfigError when it is neither."""
    from hw_models.loader import platform_path

    ref = platform_reference(config, index)
    return platform_path(ref) if isinstance(ref, str) else ref


def _load_platform(config: StudyConfig, index: int):
    """Platform ``index`` of the study, loaded (see :func:`platform_reference`)."""
    from hw_models import load_platform

    ref = platform_reference(config, index)
    return load_platform(ref if isinstance(ref, str) else str(ref))


def _unique(name: str, taken: set[str]) -> str:
    stem, suffix, n = Path(name).stem, Path(name).suffix, 2
    while name in taken:
        name, n = f"{stem}-{n}{suffix}", n + 1
    taken.add(name)
    return name


def copy_inputs(config: StudyConfig, folder: Path) -> dict[int, str]:
    """Copy every platform file of the study that is not bundled, and every technology file such a platform
    names by path, into ``folder`` (beside ``study.yaml``), so the run folder is self-contained. A platform
    naming technology files is written with those references pointing at the copies; others are copied
    byte for byte. Returns ``{entry index: file name in folder}`` for :func:`study_document`."""
    from hw_models.yamlio import load_yaml

    taken = {"study.yaml"}
    by_source: dict[Path, str] = {}
    copies: dict[int, str] = {}
    for index in range(len(config.platforms)):
        ref = platform_reference(config, index)
        if isinstance(ref, str):
            continue  # bundled: part of this hetsim version, named in the identity
        source = ref.resolve()
        if source not in by_source:
            name = _unique(f"{source.stem}.yaml", taken)
            doc = load_yaml(source, what="platform")
            changed = False
            for memory in (doc.get("memories") or {}).values() if isinstance(doc, dict) else ():
                tech = memory.get("technology") if isinstance(memory, dict) else None
                if isinstance(tech, str) and tech.endswith((".yaml", ".yml")):
                    tech_path = (source.parent / tech).resolve()
                    if tech_path not in by_source:
                        by_source[tech_path] = _unique(f"{tech_path.stem}.yaml", taken)
                        shutil.copyfile(tech_path, folder / by_source[tech_path])
                    memory["technology"] = by_source[tech_path]
                    changed = True
            if changed:
                (folder / name).write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True),
                                           encoding="utf-8")
            else:
                shutil.copyfile(source, folder / name)
            by_source[source] = name
        copies[index] = by_source[source]
    return copies


#: What a worker of :func:`run_study`'s process pool reads (set before the pool forks, so the traces
#: are shared with the workers instead of pickled to them).
_JOB: dict[str, Any] = {}


def _simulate_entry(index: int) -> tuple[str, Any, float, float, float]:
    """Prepare and simulate platform ``index`` of the study in :data:`_JOB` (its DVFS policy applied);
    returns (key, Result, preparation s, simulation s, tables s: computing its tables when asked). In a worker process the Result comes back without
    its workload (the parent reattaches its own: the traces are not pickled back)."""
    import time

    from simulator.cost.tables import prepare
    from simulator.results.result import Result

    config, entry, platform = _JOB["config"], _JOB["config"].platforms[index], _JOB["platforms"][index]
    workload = _JOB["workloads"][index]
    if config.evaluator == "engine":
        from simulator.engine.discrete_event import simulate as evaluate
    else:
        from simulator.analytic.closed_form import evaluate
    sc = config.scenario
    kwargs = {"seed": sc.seed, "max_in_flight": sc.max_in_flight, "engine": sc.engine} \
        if config.evaluator == "engine" else {}
    t0 = time.perf_counter()
    try:
        prepared = prepare(workload, platform)
        curve = points = None
        if config.dvfs is not None:
            from simulator.study.dvfs import point_breakdown

            workload, curve = _apply_dvfs(config, entry, platform, workload, prepared)
            prepared.workload = workload
            # why a lower operating point does (not) pay: one request of the longest kind at each point
            keys = [r.key for r in workload.stream if r.exit_layer is None] or [r.key for r in workload.stream]
            points = point_breakdown(prepared, platform, max(set(keys), key=keys.count)) if keys else None
        t1 = time.perf_counter()
        run = evaluate(workload, platform, prepared=prepared, **kwargs)
    except SimulationConfigError as exc:
        raise _in_source(config, exc) from None
    t2 = time.perf_counter()
    result = Result.from_run(run, prepared=prepared)
    result.meta.update(workload.meta)
    if config.early_exit is not None:
        result.requests["exit_layer"] = [r.exit_layer for r in workload.stream]
    if curve is not None:
        result.meta["dvfs_curve"] = curve
    if points is not None:
        from simulator.study.dvfs import explain

        result.meta["dvfs_points"] = points
        result.meta["dvfs_why"] = explain(points, platform.default_operating_point)
    if _JOB.get("tables"):
        result.compute_tables()   # in the worker: the platforms' tables are computed in parallel too
    t3 = time.perf_counter()
    if _JOB.get("worker"):
        result.workload = None if workload is _JOB["workloads"][index] else workload
    return entry.key, result, t1 - t0, t2 - t1, t3 - t2


def _init_worker() -> None:
    from simulator.processes import die_with_parent

    die_with_parent()
    _JOB["worker"] = True


def default_jobs(n: int) -> int:
    """Worker processes for ``n`` independent pieces of work: one each, at most one per CPU."""
    import os

    return max(1, min(n, os.cpu_count() or 1))


def run_study(config: StudyConfig, progress: bool = True, *, jobs: int | None = None,
              timings: dict[str, float] | None = None, tables: bool = False,
              while_simulating: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Simulate the study on each platform; returns ``{platform key: Result}`` in the study's order.

    The traces and the request stream are built once and shared by all platforms (same seed, same
    numbers). The platforms are simulated in a pool of ``jobs`` worker processes (default
    :func:`default_jobs`; 1: one after another in this process; a study with DVFS and early exit, which
    traces again per platform, runs in this process); the results are the same either way. ``progress``
    shows tqdm bars on stderr. ``timings``, when given, receives the seconds spent ``tracing`` (or
    loading traces from the cache), in ``preparation`` (placement, traffic, DVFS assignment) and in
    ``simulation`` (both summed over platforms), ``tables`` (with ``tables``, summed likewise) and the
    wall time of all three (``simulation_wall``).
    ``tables``: also compute each result's summary and tables (:meth:`Result.compute_tables`) where it
    was simulated, so that they are computed in parallel and :func:`save_study` only writes them.
    ``while_simulating``: called in this process once the platforms' worker processes run (work their
    simulation hides, e.g. :func:`simulator.results.plots.warm_up` before the figures); not called when
    the platforms run in this process."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    from simulator.prepare.served_workload import Workload

    timings = timings if timings is not None else {}
    platforms = [_load_platform(config, i) for i in range(len(config.platforms))]
    base_stream = build_stream(config)
    traces: dict[tuple, dict[str, Any]] = {}
    streams_of: dict[str, Any] = {}  # per model: the stream with its exit layers (early exit)
    workloads = []
    t0 = time.perf_counter()
    for entry in config.platforms:
        served = entry.serves(config)
        model, mode, adapter = served
        if served not in traces:
            traces[served] = build_traces(config, mode, model=model, adapter=adapter)
        if model not in streams_of:  # the same arrivals and tasks; exit layers drawn for this depth
            streams_of[model] = exit_stream(config, base_stream, traces[served])
        meta = {"study": config.name, "model": model, "mode": mode, "label": entry.key, "adapter": adapter,
                "method": entry.method(config),
                "compression": config.compression.model_dump(), "seed": config.scenario.seed}
        workloads.append(Workload(f"{config.name}:{mode}", traces[served], streams_of[model], meta))
    timings["tracing"] = time.perf_counter() - t0
    n = len(platforms)
    jobs = default_jobs(n) if jobs is None else max(1, min(int(jobs), n))
    if config.dvfs is not None and config.early_exit is not None:
        jobs = 1          # its no-exit baseline traces again: torch stays out of forked workers
    fork = "fork" in multiprocessing.get_all_start_methods()
    _JOB.clear()
    _JOB.update(config=config, platforms=platforms, workloads=workloads, tables=tables)
    bar = tqdm(total=n, desc=f"{config.name}", unit="platform", file=sys.stderr, disable=not progress,
               leave=False)
    results: dict[str, Any] = {}
    prep = sim = tabs = 0.0
    t1 = time.perf_counter()
    try:
        if jobs > 1 and fork:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"),
                                     initializer=_init_worker) as pool:
                futures = {pool.submit(_simulate_entry, i): i for i in range(n)}
                if while_simulating is not None:     # the workers are forked: this process is free
                    while_simulating()
                for future in as_completed(futures):
                    key, result, p, s, tab = future.result()
                    if result.workload is None:
                        result.workload = workloads[futures[future]]
                    results[key], prep, sim, tabs = result, prep + p, sim + s, tabs + tab
                    bar.update()
        else:
            for i in range(n):
                key, result, p, s, tab = _simulate_entry(i)
                results[key], prep, sim, tabs = result, prep + p, sim + s, tabs + tab
                bar.update()
    finally:
        bar.close()
        _JOB.clear()
    timings.update(preparation=prep, simulation=sim, simulation_wall=time.perf_counter() - t1)
    if tables:
        timings["tables"] = tabs
    results = {entry.key: results[entry.key] for entry in config.platforms}
    # grouped by method (in order of first appearance), each group in the study's order
    methods = list(dict.fromkeys(r.meta["method"] for r in results.values()))
    return dict(sorted(results.items(), key=lambda kv: methods.index(kv[1].meta["method"])))


def _apply_dvfs(config: StudyConfig, entry: PlatformEntry, platform, workload, prepared):
    """The workload with the study's DVFS policy applied to its stream on ``platform``, and (with early
    exit) EdgeBERT's energy-vs-latency-target table for the platform (None without early exit)."""
    from simulator.study import dvfs
    from simulator.cost.tables import prepare

    d = config.dvfs
    stream = dvfs.assign(prepared, platform, workload.stream, policy=d.policy, latency_target_s=d.latency_target,
                         operating_point=d.operating_point, switch_time_s=d.switch_time,
                         switch_energy_J=d.switch_energy)
    curve = None
    if config.early_exit is not None:
        model, mode, adapter = entry.serves(config)
        full = workload.__class__(workload.name + ":no-exit",
                                  build_traces(config, mode, exits=False, model=model, adapter=adapter),
                                  workload.stream.with_fields(exit_layer=[None] * len(workload.stream)),
                                  dict(workload.meta))
        targets = d.targets or dvfs.default_targets(prepared, platform, workload.stream)
        curve = dvfs.energy_vs_target(prepared, prepare(full, platform), platform, targets,
                                      operating_point=d.operating_point if d.policy == "fixed" else None,
                                      switch_time_s=d.switch_time, switch_energy_J=d.switch_energy)
    return workload.with_stream(stream), curve


def study_document(config: StudyConfig, platform_files: dict[int, str] | None = None) -> dict:
    """The study as run, for the run folder's ``study.yaml``: every field, ``outputs.dir`` cleared (running
    the copy again writes a new folder) and platform references replaced by ``platform_files``
    (entry index -> file name beside ``study.yaml``)."""
    doc = config.model_dump(mode="json")
    doc["outputs"]["dir"] = None
    for index, name in (platform_files or {}).items():
        entry = doc["platforms"][index]
        if Path(name).stem != config.platforms[index].key:
            entry["label"] = config.platforms[index].key  # results keep their names
        entry["platform"] = name
    return doc


def _draw_figures(results: dict[str, Any], config: StudyConfig, folder: Path, jobs: int | None):
    """Start drawing the study's figures into ``folder``: in worker processes (forked, so the results are
    shared, not pickled) when ``jobs`` allows more than one process, else on demand in this one.
    Returns {figure name: a call that waits for it and returns its paths}."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from simulator.results import plots

    formats = tuple(config.outputs.formats)
    work = {"energy_breakdown": (plots.energy_breakdown, (results, folder / "energy_breakdown", formats), {}),
            "timeline": (plots.timeline, (results, folder / "timeline", formats),
                         {"requests": config.outputs.timeline_requests})}
    if any(r.meta.get("dvfs_curve") is not None for r in results.values()):
        work["energy_vs_latency_target"] = (plots.energy_vs_latency_target,
                                            (results, folder / "energy_vs_latency_target", formats), {})
    jobs = default_jobs(len(work)) if jobs is None else jobs
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return {name: (lambda fn=fn, a=a, k=k: fn(*a, **k)) for name, (fn, a, k) in work.items()}
    _FIGURES.clear()
    _FIGURES.update(work)
    from simulator.processes import die_with_parent

    for _, _, kwargs in work.values():   # a worker draws its figure's formats at once (PNG beside PDF)
        kwargs["concurrent"] = True
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(work)), mp_context=multiprocessing.get_context("fork"),
                               initializer=die_with_parent)
    futures = {name: pool.submit(_draw, name) for name in work}
    pool.shutdown(wait=False)

    def waiter(name):
        def wait():
            return futures[name].result()
        return wait
    return {name: waiter(name) for name in work}


#: The figures a forked worker of :func:`_draw_figures` draws: name -> (function, args, kwargs).
_FIGURES: dict[str, tuple] = {}


def _draw(name: str) -> list[Path]:
    fn, args, kwargs = _FIGURES[name]
    return fn(*args, **kwargs)


def save_study(results: dict[str, Any], config: StudyConfig, out_dir: Any = None, *,
               overwrite: bool = False, jobs: int | None = None) -> Path:
    """Write the run folder: ``summary.csv``/``summary.json`` (one row per platform), ``<platform>/`` with
    its tables, ``report.md``, the figures, ``timeline.perfetto.json`` and ``study.yaml`` (the study as
    run, with every platform and technology file it used copied beside it: :func:`copy_inputs`, so
    ``hetsim run <folder>/study.yaml`` repeats the run from anywhere). ``out_dir`` is a folder already
    claimed (:class:`simulator.outdir.OutputFolder`, as ``hetsim run`` does before simulating) or a path,
    claimed here (``overwrite``: replace an earlier run of
    hetsim's there). Atomic: on error the folder is as it was. The figures are drawn in ``jobs`` worker
    processes (default: up to one per CPU; 1: in this process) while the tables are written. Returns the
    folder."""
    from simulator.outdir import OutputFolder, claim_output
    from simulator.results import report
    from simulator.results.perfetto import write_perfetto

    if isinstance(out_dir, OutputFolder):
        claimed = out_dir
    else:
        target = Path(out_dir) if out_dir is not None else config.run_dir()
        claimed = claim_output(target, command="run", field="outputs.dir", overwrite=overwrite)
    with claimed as out:
        tmp = out.tmp
        pending = _draw_figures(results, config, tmp, jobs) if config.outputs.figures else {}
        for key, result in results.items():
            (tmp / key).mkdir()
            result.write_into(tmp / key, ledger=config.outputs.ledger)
            if "exit_layer" in result.requests:
                report.exit_table(result).to_csv(tmp / key / "per_exit_layer.csv", index=False)
            if result.meta.get("dvfs_curve") is not None:
                result.meta["dvfs_curve"].to_csv(tmp / key / "energy_vs_latency_target.csv", index=False)
            tokens = report.token_table(result)
            if len(tokens):
                tokens.to_csv(tmp / key / "per_token.csv", index=False)
        table = report.summary_table(results)
        table.to_csv(tmp / "summary.csv", index=False)
        report.write_summary_json(results, tmp / "summary.json")
        # everything that does not need the figures is written while the workers draw them
        write_perfetto(list(results.values()), tmp / "timeline.perfetto.json",
                       max_detail_requests=config.outputs.perfetto_requests)
        copies = copy_inputs(config, tmp)
        study_text = yaml.safe_dump(study_document(config, copies), sort_keys=False)
        (tmp / "study.yaml").write_text(study_text, encoding="utf-8")
        figures: dict[str, list[Path]] = {}
        for name, job in pending.items():
            paths = job()
            if paths:
                figures[name] = paths
        report.write_report(results, config, tmp / "report.md",
                            {k: [p.relative_to(tmp) for p in v] for k, v in figures.items()})
        out.commit({"study": config.name, "platforms": list(results),
                    "study_sha256": hashlib.sha256(study_text.encode()).hexdigest()})
    return out.path
