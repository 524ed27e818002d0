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
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_serializer,
                      field_validator, model_validator)

from hw_models.schema import Frequency, PositiveTime, explain_error
from simulator.errors import SimulationConfigError

#: Folder of the studies that ship with hetsim (``default.yaml`` is the default study).
STUDIES_DIR = Path(__file__).parent.parent / "studies"
#: The study ``hetsim run`` runs with no argument.
DEFAULT_STUDY = STUDIES_DIR / "default.yaml"
#: Serving modes of a platform (see the module docstring).
MODES = ("adapters", "per-task-model")
#: Roles whose tensors are parameters (the ones a per-task model owns).
PARAMETER_ROLES = ("weight", "embedding", "adapter")

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
        from workloads.trace import ROLES

        unknown = [r for r in value if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r}; expected one of {', '.join(ROLES)}")
        return value


class ScenarioConfig(_Strict):
    """The request stream: ``stream`` kind, number of ``requests``, mean arrival ``rate`` (Poisson) or
    ``period`` (fixed, round-robin), ``switch_probability`` between consecutive requests (Poisson),
    ``task_mix`` weights (default: equal), an explicit ``sequence`` of tasks (fixed) and the ``seed``."""
    stream: Literal["poisson", "round_robin", "fixed"] = "poisson"
    requests: Annotated[int, Field(ge=1, strict=True)] = 100
    rate: Frequency = 10.0
    period: PositiveTime = 0.1
    switch_probability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    task_mix: dict[str, Annotated[float, Field(ge=0.0)]] | None = None
    sequence: list[str] | None = None
    seed: Annotated[int, Field(ge=0, strict=True)] = 0
    operating_point: str | None = None

    @field_serializer("rate")
    def _rate_with_unit(self, value: float) -> str:
        return f"{value:g} Hz"

    @field_serializer("period")
    def _period_with_unit(self, value: float) -> str:
        return f"{value:g} s"


class PlatformEntry(_Strict):
    """A platform to run: ``platform`` (a bundled name or a path to a platform YAML), how it serves the
    tasks (``mode``) and the ``label`` it gets in tables (default: the platform's name)."""
    platform: str = Field(min_length=1)
    mode: Literal["adapters", "per-task-model"] = "adapters"
    label: Name | None = None

    @property
    def key(self) -> str:
        """The label of this entry in results (its ``label``, else the platform's file stem or name)."""
        return self.label or Path(self.platform).stem


class OutputsConfig(_Strict):
    """What to write: the run ``dir`` (default ``results/<name>-<timestamp>``), figure ``formats``,
    whether to keep the full ``ledger`` CSV, how many requests the Perfetto timeline shows in detail
    (``perfetto_requests``) and the timeline figure shows (``timeline_requests``)."""
    dir: str | None = None
    formats: list[Literal["png", "pdf", "svg"]] = ["png", "pdf"]
    ledger: bool = False
    perfetto_requests: Annotated[int, Field(ge=0, strict=True)] = 4
    timeline_requests: Annotated[int, Field(ge=1, strict=True)] = 4
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
    seq_len: Annotated[int, Field(ge=1, strict=True)] = 128
    layers: Annotated[int, Field(ge=1, strict=True)] | None = None
    hidden: Annotated[int, Field(ge=1, strict=True)] | None = None
    compression: CompressionConfig = CompressionConfig()
    scenario: ScenarioConfig = ScenarioConfig()
    platforms: Annotated[list[PlatformEntry], Field(min_length=1)]
    evaluator: Literal["engine", "analytic"] = "engine"
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
            if requests < 1:
                raise SimulationConfigError(f"--requests: got {requests}; expected an integer >= 1")
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
    """The default study (``simulator/studies/default.yaml``): adapter-ALBERT on four edge platforms."""
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


def build_traces(config: StudyConfig, mode: str = "adapters") -> dict[str, Any]:
    """The compressed per-task traces of the study's model for serving ``mode`` (through the trace cache)."""
    from workloads import CompressionPolicy, WorkloadError
    from workloads.multitask import trace_tasks

    policy = CompressionPolicy(dict(config.compression.bits), dict(config.compression.sparsity))
    adapter = config.adapter if mode == "adapters" else None
    try:
        traces = trace_tasks(config.model, list(config.tasks), adapter=adapter, seq_len=config.seq_len,
                             compression=policy, per_repetition=config.per_repetition, layers=config.layers,
                             hidden=config.hidden)
    except WorkloadError as exc:
        raise _in_source(config, exc) from None
    if mode == "per-task-model":
        traces = {task: per_task_model(trace, task) for task, trace in traces.items()}
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


def _load_platform(config: StudyConfig, index: int):
    """Platform ``index`` of the study: a bundled name, or a path relative to the study file."""
    from hw_models import list_platforms, load_platform

    ref = config.platforms[index].platform
    candidate = Path(ref)
    if not candidate.is_absolute() and config.source not in ("<study>", str(DEFAULT_STUDY)):
        beside = Path(config.source).parent / candidate
        candidate = beside if beside.exists() else candidate
    if ref in list_platforms():
        return load_platform(ref)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return load_platform(str(candidate))
    raise SimulationConfigError(f"{config.source}: platforms.{index}.platform: {ref!r} is neither a bundled "
                                f"platform nor a platform YAML file; expected one of "
                                f"{', '.join(list_platforms())} or a path")


def run_study(config: StudyConfig, progress: bool = True) -> dict[str, Any]:
    """Simulate the study on each platform; returns ``{platform key: Result}`` in the study's order.

    The traces and the request stream are built once and shared by all platforms (same seed, same
    numbers). ``progress`` shows tqdm bars on stderr."""
    from tqdm import tqdm

    from simulator.cost.tables import prepare
    from simulator.results.result import Result
    from simulator.prepare.served_workload import Workload

    if config.evaluator == "engine":
        from simulator.engine.discrete_event import simulate as evaluate
    else:
        from simulator.analytic.closed_form import evaluate

    platforms = [_load_platform(config, i) for i in range(len(config.platforms))]
    stream = build_stream(config)
    traces: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=len(platforms), desc=f"{config.name}", unit="platform", file=sys.stderr,
               disable=not progress, leave=False)
    results: dict[str, Any] = {}
    try:
        for entry, platform in zip(config.platforms, platforms):
            bar.set_postfix_str(f"{entry.key}: tracing" if entry.mode not in traces else entry.key)
            if entry.mode not in traces:
                traces[entry.mode] = build_traces(config, entry.mode)
            bar.set_postfix_str(entry.key)
            meta = {"study": config.name, "model": config.model, "mode": entry.mode, "label": entry.key,
                    "adapter": config.adapter if entry.mode == "adapters" else None,
                    "compression": config.compression.model_dump(), "seed": config.scenario.seed}
            workload = Workload(f"{config.name}:{entry.mode}", traces[entry.mode], stream, meta)
            kwargs = {"seed": config.scenario.seed} if config.evaluator == "engine" else {}
            try:
                prepared = prepare(workload, platform)
                run = evaluate(workload, platform, prepared=prepared, **kwargs)
            except SimulationConfigError as exc:
                raise _in_source(config, exc) from None
            results[entry.key] = Result.from_run(run, prepared=prepared)
            results[entry.key].meta.update(meta)
            bar.update()
    finally:
        bar.close()
    return results


def study_document(config: StudyConfig, platform_files: dict[int, str] | None = None) -> dict:
    """The study as run, for the run folder's ``study.yaml``: every field, ``outputs.dir`` cleared (running
    the copy again writes a new folder) and platform references replaced by ``platform_files``
    (entry index -> file name beside ``study.yaml``)."""
    doc = config.model_dump(mode="json")
    doc["outputs"]["dir"] = None
    for index, name in (platform_files or {}).items():
        doc["platforms"][index]["platform"] = name
    return doc


def save_study(results: dict[str, Any], config: StudyConfig, out_dir: Any = None, *,
               overwrite: bool = False) -> Path:
    """Write the run folder: ``summary.csv``/``summary.json`` (one row per platform), ``<platform>/`` with
    its tables, ``report.md``, the figures, ``timeline.perfetto.json`` and ``study.yaml`` (the study as
    run). ``out_dir`` is a folder already claimed (:class:`simulator.outdir.OutputFolder`, as ``hetsim
    run`` does before simulating) or a path, claimed here (``overwrite``: replace an earlier run of
    hetsim's there). Atomic: on error the folder is as it was. Returns the folder."""
    from simulator.outdir import OutputFolder, claim_output
    from simulator.results import plots, report
    from simulator.results.result import write_perfetto

    if isinstance(out_dir, OutputFolder):
        claimed = out_dir
    else:
        target = Path(out_dir) if out_dir is not None else config.run_dir()
        claimed = claim_output(target, command="run", field="outputs.dir", overwrite=overwrite)
    with claimed as out:
        tmp = out.tmp
        for key, result in results.items():
            (tmp / key).mkdir()
            result.write_into(tmp / key, ledger=config.outputs.ledger)
        table = report.summary_table(results)
        table.to_csv(tmp / "summary.csv", index=False)
        report.write_summary_json(results, tmp / "summary.json")
        figures: dict[str, list[Path]] = {}
        if config.outputs.figures:
            formats = tuple(config.outputs.formats)
            figures["energy_breakdown"] = plots.energy_breakdown(results, tmp / "energy_breakdown", formats)
            figures["timeline"] = plots.timeline(results, tmp / "timeline", formats,
                                                 requests=config.outputs.timeline_requests)
        write_perfetto(list(results.values()), tmp / "timeline.perfetto.json",
                       max_detail_requests=config.outputs.perfetto_requests)
        study_text = yaml.safe_dump(study_document(config), sort_keys=False)
        (tmp / "study.yaml").write_text(study_text, encoding="utf-8")
        report.write_report(results, config, tmp / "report.md",
                            {k: [p.relative_to(tmp) for p in v] for k, v in figures.items()})
        out.commit({"study": config.name, "platforms": list(results),
                    "study_sha256": hashlib.sha256(study_text.encode()).hexdigest()})
    return out.path
