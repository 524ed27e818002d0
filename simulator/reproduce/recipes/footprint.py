"""``footprint``: parameter and memory footprint against the number of tasks, from traced tensors.

Each design (a model with or without an adapter spec) is traced for two tasks through the trace cache.
Shared tensors (owner ``"shared"``) are stored once; the tensors a task owns (its adapters and head, or
for a fine-tuned design every parameter) are stored once per task. A fine-tuned design is the model
without adapters whose every parameter belongs to its task (:func:`simulator.study.per_task_model`).
The footprint of N tasks is the shared bytes plus N times one task's bytes, for each storage policy
(:class:`workloads.CompressionPolicy`: bits and pruned fraction per role, values + 1-bit mask). The
activation footprint is the peak of live activation bytes over one forward pass (one request at a time).
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from hw_models.schema import Bytes
from hw_models.vocabulary import PARAMETER_ROLES  # parameters are stored per task or shared; the rest run-time
from simulator.reproduce.core import Caption, Context, Figure, Recipe, load_spec, register

#: The two task names traced per design (both get a two-label head, so their task-owned sets are equal).
TRACED_TASKS = ("task01", "task02")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Design(_Strict):
    """One line of the figure: ``model`` (zoo name) with ``adapter`` (a spec, or ``none`` for one fully
    fine-tuned model per task) and ``per_repetition`` (ALBERT: one adapter per repetition)."""
    label: str = Field(min_length=1)
    model: str = Field(min_length=1)
    adapter: str = "none"
    per_repetition: bool = True


class Storage(_Strict):
    """A storage policy: bits per element and pruned fraction by role."""
    label: str = Field(min_length=1)
    bits: dict[str, Annotated[int, Field(ge=1, le=64)]] = {}
    sparsity: dict[str, Annotated[float, Field(ge=0.0, lt=1.0)]] = {}


class Capacity(_Strict):
    """A reference capacity drawn as a horizontal line."""
    label: str
    bytes: Bytes


class FootprintSpec(_Strict):
    """The footprint recipe's YAML (``recipes/footprint.yaml``)."""
    name: Literal["footprint"] = "footprint"
    tasks: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
    bars_at: Annotated[int, Field(ge=1)] = 8
    seq_len: Annotated[int, Field(ge=1)] = 128
    activation_bits: Annotated[int, Field(ge=1, le=64)] = 16
    designs: Annotated[list[Design], Field(min_length=1)]
    storage: Annotated[list[Storage], Field(min_length=1)]
    main_storage: str
    capacities: list[Capacity] = []
    only: list[str] | None = None


def _policy(storage: Storage, activation_bits: int):
    from workloads import CompressionPolicy

    bits = {**storage.bits}
    for role in ("activation", "input", "output"):
        bits.setdefault(role, activation_bits)
    return CompressionPolicy(bits, dict(storage.sparsity))


def traced_design(design: Design, seq_len: int, tasks=TRACED_TASKS) -> dict:
    """The uncompressed traces of ``design`` for ``tasks`` (trace cache), parameters owned per task for a
    fine-tuned design."""
    from simulator.study.runner import per_task_model
    from workloads.multitask import trace_tasks

    adapter = None if design.adapter.lower() == "none" else design.adapter
    traces = trace_tasks(design.model, list(tasks), adapter=adapter, seq_len=seq_len,
                         per_repetition=design.per_repetition)
    if adapter is None:
        traces = {t: per_task_model(tr, t) for t, tr in traces.items()}
    return traces


def parameter_sets(traces: dict) -> tuple[dict, dict]:
    """``(shared, owned)``: ``(owner, name) -> TensorInfo`` of the shared parameters, and per task its
    owned parameters, over all ``traces``."""
    shared: dict = {}
    owned: dict = {}
    for trace in traces.values():
        for t in trace.tensors.values():
            if t.role not in PARAMETER_ROLES:
                continue
            if t.owner == "shared":
                shared[(t.owner, t.name)] = t
            else:
                owned.setdefault(t.owner, {})[(t.owner, t.name)] = t
    return shared, owned


def activation_peak_bytes(trace) -> float:
    """Peak bytes of run-time tensors (activations, inputs, outputs) live at once over the trace's op
    order, with the live intervals placement uses (:func:`simulator.prepare.placement.liveness`: a
    tensor lives from the first op that touches it to the last)."""
    from simulator.prepare.placement import liveness

    live = liveness(trace)
    delta = np.zeros(len(trace.ops) + 1)
    for tid, (lo, hi) in live.items():
        size = trace.tensors[tid].stored_bytes
        delta[lo] += size
        delta[hi + 1] -= size
    return float(np.cumsum(delta).max()) if len(delta) else 0.0


def design_rows(design: Design, spec: FootprintSpec) -> list[dict]:
    """One row per (storage, number of tasks): parameters and stored bytes, shared and per task, and the
    activation peak."""
    traces = traced_design(design, spec.seq_len)
    rows = []
    for storage in spec.storage:
        policy = _policy(storage, spec.activation_bits)
        compressed = {t: tr.with_compression(policy) for t, tr in traces.items()}
        shared, owned = parameter_sets(compressed)
        per_task = [owned.get(t, {}) for t in TRACED_TASKS]
        sizes = [sum(x.stored_bytes for x in s.values()) for s in per_task]
        if abs(sizes[0] - sizes[1]) > 1e-6 * max(sizes[0], 1.0):  # pragma: no cover - guarded by the test
            raise AssertionError(f"{design.label}: the two traced tasks own different bytes {sizes}")
        task_bytes, task_params = sizes[0], sum(x.numel for x in per_task[0].values())
        shared_bytes = sum(x.stored_bytes for x in shared.values())
        shared_params = sum(x.numel for x in shared.values())
        act = activation_peak_bytes(compressed[TRACED_TASKS[0]])
        for n in spec.tasks:
            rows.append({
                "design": design.label, "model": design.model, "adapter": design.adapter,
                "per_repetition": design.per_repetition, "storage": storage.label, "tasks": n,
                "shared_parameters": shared_params, "parameters_per_task": task_params,
                "parameters": shared_params + n * task_params,
                "shared_bytes": shared_bytes, "bytes_per_task": task_bytes,
                "parameter_bytes": shared_bytes + n * task_bytes,
                "activation_peak_bytes": act, "seq_len": spec.seq_len,
                "memory_footprint_bytes": shared_bytes + n * task_bytes + act,
            })
    return rows


def build(context: Context) -> list[Figure]:
    """Trace every design and draw the two footprint figures."""
    spec = load_spec(context.config, FootprintSpec, quick=context.quick)
    designs = [d for d in spec.designs if spec.only is None or d.label in spec.only]
    labels = [s.label for s in spec.storage]
    if spec.main_storage not in labels:
        from simulator.errors import SimulationConfigError
        raise SimulationConfigError(f"{context.config}: main_storage: {spec.main_storage!r} is not a storage "
                                    f"label; expected one of {', '.join(labels)}")
    rows = [row for d in designs for row in design_rows(d, spec)]
    data = pd.DataFrame(rows)
    return [_tasks_figure(data, spec, designs), _storage_figure(data, spec, designs)]


def _tasks_figure(data: pd.DataFrame, spec: FootprintSpec, designs: list[Design]) -> Figure:
    from matplotlib.ticker import NullLocator

    from simulator.reproduce import style

    main = data[data["storage"] == spec.main_storage]
    fig, (top, bottom) = style.figure(1, 2, height_in=3.9, sharex=True)
    for i, d in enumerate(designs):
        rows = main[main["design"] == d.label].sort_values("tasks")
        kw = dict(color=style.PALETTE[i % 8], marker=style.MARKERS[i % 8], label=d.label)
        top.plot(rows["tasks"], rows["parameters"] / 1e6, **kw)
        bottom.plot(rows["tasks"], rows["memory_footprint_bytes"] / 2**20, **kw)
    for c in spec.capacities:
        bottom.axhline(c.bytes / 2**20, color="#555555", linestyle=":", linewidth=0.8)
        bottom.annotate(c.label, (min(spec.tasks), c.bytes / 2**20), xytext=(0, 2), textcoords="offset points",
                        fontsize=6, color="#555555", va="bottom")
    for ax in (top, bottom):
        ax.set_xscale("log", base=2)
        ax.set_xticks(spec.tasks, [str(n) for n in spec.tasks])
        ax.xaxis.set_minor_locator(NullLocator())
        style.log_axis(ax, "y")
    top.set_ylabel("parameters (M)")
    bottom.set_ylabel("memory footprint (MiB)")
    bottom.set_xlabel("tasks served (count)")
    top.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), ncol=2)
    n_max = max(spec.tasks)
    at = main[main["tasks"] == n_max].set_index("design")
    base = "adapter-ALBERT m=8, per rep."
    ref = "N x ALBERT (fine-tuned)"
    parts = []
    if base in at.index and ref in at.index:
        parts.append(f"at {n_max} tasks, {n_max} fine-tuned ALBERTs need "
                     f"{at.loc[ref, 'parameter_bytes'] / 2**20:.1f} MiB of parameters against "
                     f"{at.loc[base, 'parameter_bytes'] / 2**20:.1f} MiB for adapter-ALBERT (m=8, one "
                     f"adapter per repetition): {at.loc[ref, 'parameter_bytes'] / at.loc[base, 'parameter_bytes']:.1f}x "
                     f"less; one adapter-ALBERT task adds {at.loc[base, 'bytes_per_task'] / 1e3:.0f} kB against "
                     f"{at.loc[ref, 'bytes_per_task'] / 2**20:.2f} MiB per fine-tuned ALBERT")
    shared_m8 = "adapter-ALBERT m=8, shared"
    if base in at.index and shared_m8 in at.index:
        parts.append(f"per-repetition adapters cost {at.loc[base, 'parameters_per_task'] / max(at.loc[shared_m8, 'parameters_per_task'], 1):.1f}x "
                     "the parameters of adapters shared like ALBERT's layer")
    cap = spec.capacities[0] if spec.capacities else None
    if cap is not None:
        fits = [f"{d}: {int(at_rows['tasks'].max())}" for d, at_rows in
                ((d.label, main[(main["design"] == d.label) & (main["parameter_bytes"] <= cap.bytes)])
                 for d in designs) if len(at_rows)]
        parts.append(f"most tasks whose parameters fit in {cap.label} (of those drawn): " + ", ".join(fits))
    caption = Caption(
        shows=(f"Parameters (top) and memory footprint (bottom: parameters stored as '{spec.main_storage}' "
               f"plus the peak of live {spec.activation_bits}-bit activations of one sequence of "
               f"{spec.seq_len} tokens) against the number of tasks served, for each design. From traced "
               "tensors: each design traced for two tasks; shared tensors counted once, each task's owned "
               "tensors (adapters, layer norms it owns, head; every parameter for a fine-tuned model) once "
               "per task."),
        published=("The adapter-ALBERT paper states qualitatively that adapters make the task-specific part "
                   "small, so the shared backbone can be stored once (in ReRAM, as sparse values plus a bit "
                   "mask) while a conventional design needs a full ALBERT per task; its exact sizes were not "
                   "reachable. EdgeBERT stores ALBERT's embeddings pruned to 60 % in NVM (about 2 MB)."),
        this_run="; ".join(parts) + ".",
        assumptions=("Random weights with the real shapes (the zoo builds models from their configurations); "
                     "GLUE-style two-label heads per task; an adapter-ALBERT task owns its adapters, its "
                     "head and nothing else (the backbone's layer norms stay shared); 'pruned' keeps the "
                     "non-zero values plus a 1-bit-per-element mask. Activations: one request at a time."))
    return Figure("footprint-tasks", "Footprint against the number of tasks", fig, data, caption)


def _storage_figure(data: pd.DataFrame, spec: FootprintSpec, designs: list[Design]) -> Figure:
    from simulator.reproduce import style

    n = spec.bars_at if spec.bars_at in spec.tasks else max(spec.tasks)
    at = data[data["tasks"] == n]
    storages = [s.label for s in spec.storage]
    fig, ax = style.figure(height_in=3.0)
    width = 0.8 / len(storages)
    x = np.arange(len(designs))
    for j, s in enumerate(storages):
        vals = [float(at[(at["design"] == d.label) & (at["storage"] == s)]["parameter_bytes"].iloc[0]) / 2**20
                for d in designs]
        ax.bar(x + (j - (len(storages) - 1) / 2) * width, vals, width, color=style.PALETTE[j % 8],
               hatch=style.HATCHES[j % len(style.HATCHES)], edgecolor="white", label=s)
    style.log_axis(ax, "y")
    ax.set_ylabel(f"parameter storage, {n} tasks (MiB)")
    ax.set_xticks(x, [d.label.replace(", ", ",\n").replace(" (fine-tuned)", "\n(fine-tuned)") for d in designs],
                  rotation=90, fontsize=6)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    table = at.pivot_table(index="design", columns="storage", values="parameter_bytes")
    ratios = (table[storages[0]] / table[storages[-1]]).reindex([d.label for d in designs]).dropna()
    this_run = (f"at {n} tasks, '{storages[-1]}' stores the parameters in "
                + ", ".join(f"{1 / r:.2f}" for r in ratios.values)
                + f" of their {storages[0]} bytes (designs in the figure's order); "
                + f"{storages[-1]} against {storages[0]}: {ratios.min():.1f}x to {ratios.max():.1f}x smaller.")
    caption = Caption(
        shows=(f"Parameter storage of each design at {n} tasks under each storage policy (log scale): "
               + "; ".join(f"'{s.label}': bits {dict(s.bits) or 'as traced (fp32)'}, pruned "
                           f"{dict(s.sparsity) or 'none'}" for s in spec.storage) + "."),
        published=("EdgeBERT: 8-bit AdaptivFloat weights, 16-bit activations, embeddings pruned to 60 % "
                   "sparsity stored with a bit mask (ALBERT's embeddings about 2 MB). The adapter-ALBERT "
                   "paper keeps the backbone sparse with a bit-mask encoding; its sizes were not reachable."),
        this_run=this_run,
        assumptions=("The mask costs 1 bit per element of a pruned tensor (pruned or not); pruning the "
                     "encoder weights to 60 % is an assumption of the last policy (EdgeBERT prunes the "
                     "encoder with movement pruning at its own per-task rates). 8-bit integers stand for "
                     "AdaptivFloat."))
    return Figure("footprint-storage", f"Parameter storage at {n} tasks by storage policy", fig,
                  at.reset_index(drop=True), caption)


register(Recipe("footprint", "parameter and memory footprint against the number of tasks", "footprint.yaml",
                build, "N fine-tuned ALBERTs/BERTs vs adapter-ALBERT/BERT, 1..32 tasks, fp32/8-bit/pruned"))
