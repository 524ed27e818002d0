"""``generation``: energy per generated token and NVM lifetime against the memory that holds what
generation writes while it runs.

Two generation workloads, each a plain study beside this module: LightLM's constrained 20-beam search
(its KV cache is rewritten every step) and RWKV-169M with ProSG's temporary rank-R weights (factors written
after every prompt). Both run on ``platforms/gen-temp.yaml``: edge-rram plus a memory ``temp`` that the
placement policy gives the KV cache (role ``kv_cache``) and ProSG's factors (role ``adapter``). For each
technology of the spec, the study's platform is loaded with ``memories.temp.technology`` replaced (the
normal loader: :func:`simulator.reproduce.recipes.nvm_choice.variant_platform`), the study's traces are
placed, prepared and evaluated on it (the study's evaluator), and the run gives:

- energy per generated token: the run's energy per request (prefill, decode steps, leakage, wake-ups)
  over the tokens a request generates, split into the ``temp`` memory's dynamic and static energy and
  the rest of the platform;
- the ``temp`` memory's lifetime at the run's request rate (its most-written cells: endurance over their
  writes per second, :meth:`Result.nvm_wear`); a volatile memory does not wear out (infinite).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from simulator.reproduce.core import Caption, Context, Figure, Recipe, load_spec, register

#: Seconds per year (365.25 days), for lifetimes.
YEAR_S = 365.25 * 86400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Workload(_Strict):
    """One generation workload: its figure ``label``, its ``study`` (path beside the spec), the tensor
    role the temporary memory ``holds`` for it (said in the caption) and that memory's ``capacity`` for it
    (as written in a platform file, ``"1 MiB"``; default: the platform file's)."""
    label: str = Field(min_length=1)
    study: str = Field(min_length=1)
    holds: str = Field(min_length=1)
    capacity: str | None = None


class QuickGeneration(_Strict):
    """``--quick`` overrides of a study's ``generation`` (applied only to keys the study sets)."""
    prompt_len: Annotated[int, Field(ge=1)] | None = None
    new_tokens: Annotated[int, Field(ge=1)] | None = None
    beams: Annotated[int, Field(ge=1)] | None = None
    items: Annotated[int, Field(ge=1)] | None = None


class GenerationSpec(_Strict):
    """The generation recipe's YAML (``recipes/generation.yaml``)."""
    name: Literal["generation"] = "generation"
    memory: str = Field(min_length=1)
    technologies: Annotated[list[str], Field(min_length=1)]
    workloads: Annotated[list[Workload], Field(min_length=1)]
    requests: Annotated[int, Field(ge=1)] | None = None
    layers: Annotated[int, Field(ge=1)] | None = None
    hidden: Annotated[int, Field(ge=1)] | None = None
    generation: QuickGeneration = QuickGeneration()


def study_of(spec: GenerationSpec, workload: Workload, config_path: Path):
    """The workload's study as the recipe runs it: the study file, with the spec's reduced sizes (set by
    ``--quick``: requests, layers, hidden, and the generation keys the study itself sets)."""
    from simulator.study.runner import load_study

    config = load_study(config_path.parent / workload.study)
    if spec.requests is not None:
        config = config.with_overrides(requests=spec.requests)
    update = {k: getattr(spec, k) for k in ("layers", "hidden") if getattr(spec, k) is not None}
    if config.generation is not None:
        gen = {k: v for k, v in spec.generation.model_dump(exclude_none=True).items()
               if k in config.generation.model_fields_set}
        if gen:
            update["generation"] = config.generation.model_copy(update=gen)
    return config.model_copy(update=update) if update else config


def evaluate(config, memory: str, technologies: list[str], capacity: str | None = None) -> pd.DataFrame:
    """One row per technology of ``memory`` (of ``capacity``, default the platform file's): energy per
    request and per generated token (the memory's dynamic and static parts apart), the prefill's and a
    decode step's op energy, the memory's write bytes and lifetime (SI units).

    Computed from the run's ledger, per-memory table and wear table (``Result.summary`` would also build
    the windowed power profile, which a generation run of ~10^6 ledger rows pays seconds for and this
    figure does not use); the numbers are those of ``hetsim run``'s summary.csv, per_memory.csv and
    nvm_wear.csv (the test checks)."""
    from simulator.cost.tables import prepare
    from simulator.prepare.served_workload import Workload as Served
    from simulator.reproduce.recipes.nvm_choice import _platform_ref, variant_platform
    from simulator.results.result import Result
    from simulator.study.runner import build_stream, build_traces

    if config.evaluator == "engine":
        from simulator.engine import simulate as run
    else:
        from simulator.analytic import evaluate as run
    entry = config.platforms[0]
    model, mode, adapter = entry.serves(config)
    traces = build_traces(config, mode, model=model, adapter=adapter)
    adapter = next(iter(traces.values())).meta.get("adapter")   # what generation traced (prosg:R or none)
    stream = build_stream(config)
    tokens = config.generation.new_tokens if config.generation is not None else 1
    steps = {(task, op.id): op.step for task, t in traces.items() for op in t.ops}
    more = {"capacity": capacity} if capacity is not None else {}
    rows = []
    for tech in technologies:
        platform = variant_platform(_platform_ref(config, 0), tech, memory=memory, **more)
        workload = Served(f"{config.name}:{memory}-{tech}", traces, stream)
        prepared = prepare(workload, platform)
        result = Result.from_run(run(workload, platform, prepared=prepared), prepared=prepared)
        n = max(1, result.n_requests)
        per_request = result.total_energy_J / n
        memories = result.per_memory().set_index("memory")
        mem = memories.loc[memory]
        wear = result.nvm_wear()
        worn = wear[wear["memory"] == memory]
        prefill, decode = _step_energy(result.ledger, steps, n)
        rows.append({
            "study": config.name, "model": model, "adapter": adapter or "none", "technology": tech,
            "memory": memory, "memory_capacity_bytes": float(platform.memories[memory].capacity_bytes),
            "tokens_per_request": tokens, "requests": result.n_requests,
            "energy_per_request_J": per_request, "energy_per_token_J": per_request / tokens,
            "memory_dynamic_energy_per_token_J": float(mem["dynamic_energy_J"]) / n / tokens,
            "memory_static_energy_per_token_J": float(mem["energy_J"] - mem["dynamic_energy_J"]) / n / tokens,
            "rest_energy_per_token_J": (result.total_energy_J - float(mem["energy_J"])) / n / tokens,
            "prefill_op_energy_J": prefill, "decode_step_op_energy_J": decode,
            "memory_write_bytes_per_request": float(mem["write_bytes"]) / n,
            "nvm_write_bytes_per_request": float(memories.loc[memories["kind"] == "nvm", "write_bytes"].sum()) / n,
            "memory_lifetime_s": float(worn["lifetime_s"].min()) if len(worn) else math.inf,
            "memory_area_m2": float(mem["area_m2"]), "area_m2": float(getattr(platform, "area_m2", math.nan))})
    return pd.DataFrame(rows)


def _step_energy(ledger: pd.DataFrame, steps: dict, n: int) -> tuple[float, float]:
    """(the prefill's op energy per request, the mean op energy of one decode step per request), J: the
    ledger's op rows summed per (task, op) first (a generation trace has ~10^4 ops, its ledger ~10^6 rows),
    then per generation step (:attr:`workloads.trace.Op.step`; 0 = prefill)."""
    ops = ledger[(ledger["request"] >= 0) & (ledger["op"] >= 0)]
    per_op = ops.groupby(["task", "op"], observed=True)["energy_J"].sum()
    step = np.array([steps.get(key, -1) for key in per_op.index])
    energy = per_op.to_numpy()
    prefill = float(energy[step == 0].sum()) / n
    decode_steps = sorted(set(step[step >= 1].tolist()))
    decode = float(energy[step >= 1].sum()) / n / len(decode_steps) if decode_steps else math.nan
    return prefill, decode


def build(context: Context) -> list[Figure]:
    """Evaluate every workload on every technology of the temporary memory; draw the figure."""
    spec = load_spec(context.config, GenerationSpec, quick=context.quick)
    frames, configs = [], []
    for w in spec.workloads:
        config = study_of(spec, w, context.config)
        configs.append(config)
        frames.append(evaluate(config, spec.memory, spec.technologies, w.capacity).assign(workload=w.label, holds=w.holds))
    data = pd.concat(frames, ignore_index=True)
    cols = ["workload", "holds", *[c for c in data.columns if c not in ("workload", "holds")]]
    data = data[cols]
    return [_figure(data, spec, configs)]


def _figure(data: pd.DataFrame, spec: GenerationSpec, configs: list) -> Figure:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from simulator.reproduce import plots, style

    techs = list(spec.technologies)
    workloads = [w.label for w in spec.workloads]
    fig, (ax_e, ax_t) = style.figure(2, 1, width_in=style.DOUBLE_COLUMN_IN, height_in=2.7)
    x = np.arange(len(techs))
    width = 0.8 / len(workloads)
    for j, label in enumerate(workloads):
        sub = data[data["workload"] == label].set_index("technology").reindex(techs)
        xs = x + (j - (len(workloads) - 1) / 2) * width
        rest = sub["rest_energy_per_token_J"].to_numpy() * 1e3
        dyn = sub["memory_dynamic_energy_per_token_J"].to_numpy() * 1e3
        stat = sub["memory_static_energy_per_token_J"].to_numpy() * 1e3
        grey = ("#555555", "#AAAAAA")[j % 2]
        ax_e.bar(xs, rest, width, color=grey, edgecolor="white", linewidth=0.3)
        ax_e.bar(xs, dyn, width, bottom=rest, color=style.PALETTE[j], edgecolor="white", linewidth=0.3)
        ax_e.bar(xs, stat, width, bottom=rest + dyn, color=style.PALETTE[j], alpha=0.55, hatch="////",
                 edgecolor="white", linewidth=0.3)
        life = sub["memory_lifetime_s"].to_numpy() / YEAR_S
        finite = np.isfinite(life)
        ax_t.plot(x[finite], life[finite], linestyle="none", marker=style.MARKERS[j], color=style.PALETTE[j],
                  markersize=5)
    ax_t.set_yscale("log")                       # decades: lifetimes span hours to millennia
    ax_t.set_xlim(-0.6, len(techs) - 0.4)
    for i, tech in enumerate(techs):
        rows = data[data["technology"] == tech]
        if not np.isfinite(rows["memory_lifetime_s"]).any():
            ax_t.text(x[i], 0.5, "∞", transform=ax_t.get_xaxis_transform(), ha="center", va="center",
                      fontsize=9, color="#555555")
    ax_t.axhline(10.0, color="#555555", linestyle=":", linewidth=0.8)
    ax_t.text(len(techs) - 0.45, 10.0, "10 years", ha="right", va="bottom", fontsize=5.5, color="#555555")
    ax_t.text(0.01, 0.01, "∞: volatile, no wear-out", transform=ax_t.transAxes, ha="left", va="bottom",
              fontsize=5.5, color="#555555")
    for ax in (ax_e, ax_t):
        plots.categorical_x(ax, x, techs, rotation=45, ha="right", rotation_mode="anchor", fontsize=6)
    ax_e.set_ylabel("energy / generated token (mJ)")
    ax_t.set_ylabel(f"{spec.memory} lifetime (years)")
    plots.letter_panels((ax_e, ax_t))
    handles = [Patch(facecolor=("#555555", "#AAAAAA")[j % 2], label=f"{w}: rest of the platform")
               for j, w in enumerate(workloads)]
    handles += [Patch(facecolor=style.PALETTE[j], label=f"{w}: {spec.memory} (leakage hatched)")
                for j, w in enumerate(workloads)]
    handles += [Line2D([], [], linestyle="none", marker=style.MARKERS[j], color=style.PALETTE[j],
                       label=f"{w}: lifetime") for j, w in enumerate(workloads)]
    fig.legend(handles=handles, loc="outside upper center", ncol=3, fontsize=5.5)

    caption = Caption(
        shows=("(a) Energy per generated token (the run's energy per request, prefill, decode steps, idle "
               f"leakage and wake-ups included, over the tokens a request generates), split into the memory "
               f"`{spec.memory}` that holds the tensors generation writes (its dynamic part solid, its "
               "leakage hatched) and the rest of the platform; (b) that memory's lifetime at the run's "
               "request rate (its most-written cells, no wear levelling; ∞: a volatile memory does not wear out), "
               "against the memory's technology. "
               "Platform gen-temp: edge-rram (ReRAM backbone, SRAM activations, LPDDR4) plus the "
               f"`{spec.memory}` memory, sized per workload. Workloads: " + "; ".join(_workload_text(w, c, spec.memory)
                                                                for w, c in zip(spec.workloads, configs)) + "."),
        published=("LightLM (Mei & Zhang 2023) reports recommendation accuracy and inference speed, ProSG (Luo "
                   "et al. 2023) how well the model keeps its prompt; neither reports hardware energy or memory "
                   "wear. The point ProSG raises for hardware (weights written at inference) and LightLM's "
                   "20-beam search are what this figure prices."),
        this_run=_this_run(data, spec),
        assumptions=("Technologies are NVMExplorer's 22 nm cells and CACTI 7's SRAM, scaled to 12 nm; cell "
                     "endurance (writes) is what decides lifetime: ReRAM 1e6, PCM 1e8, FeFET 1e10 (assumptions "
                     "inside NVMExplorer's survey ranges), STT-MRAM 1e12, SOT-MRAM 1e15 (imec, IEDM 2023); the "
                     "temporary memory is power-gated between requests when non-volatile (it loses nothing), "
                     "always on when volatile. Lifetime assumes the same cells are rewritten every request "
                     "(fixed addresses); wear levelling over the whole memory stretches it by capacity over "
                     "bytes written (nvm_lifetime_levelled_s of hetsim run). At 1 request/s the always-on 4 MiB "
                     "activation SRAM's leakage sets the floor of every bar. The beam search is traced without "
                     "top-k pruning of finished beams; random weights (item ids and prompts are random)."))
    return Figure("generation", "Generation: energy per token and lifetime against the temporary memory",
                  fig, data, caption)


def _workload_text(w: Workload, config, memory: str) -> str:
    g = config.generation
    sc = config.scenario
    beams = f", {g.beams} beams" if g is not None and g.beams > 1 else ""
    adapter = f" + {config.adapter}" if config.adapter.startswith("prosg") else ""
    return (f"{w.label} = {config.model}{adapter}, prompt {g.prompt_len} tokens, {g.new_tokens} generated"
            f"{beams}, `{w.holds}` in {memory} ({w.capacity or 'as in the file'}), {sc.requests} Poisson requests at {sc.rate:g} Hz, "
            f"evaluator {config.evaluator}") if g is not None else w.label


def _years(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "no wear-out"
    years = seconds / YEAR_S
    if years >= 1:
        return f"{years:.3g} years"
    days = seconds / 86400.0
    return f"{days:.3g} days" if days >= 1 else f"{seconds / 3600:.3g} hours"


def _this_run(data: pd.DataFrame, spec: GenerationSpec) -> str:
    parts = []
    for label, rows in data.groupby("workload", sort=False):
        r = rows.set_index("technology")
        best = r["energy_per_token_J"].idxmin()
        worst = r["energy_per_token_J"].idxmax()
        lives = ", ".join(f"{t} {_years(v)}" for t, v in r["memory_lifetime_s"].items()
                          if math.isfinite(v))
        writes = r["memory_write_bytes_per_request"].iloc[0]
        parts.append(f"{label}: energy per token from {r.loc[best, 'energy_per_token_J'] * 1e3:.3g} mJ "
                     f"({best}) to {r.loc[worst, 'energy_per_token_J'] * 1e3:.3g} mJ ({worst}); "
                     f"{writes / 1e6:.3g} MB written into {spec.memory} per request; lifetime {lives or 'n/a'}")
    return "; ".join(parts) + "."


register(Recipe("generation", "energy per token and NVM lifetime against the memory of the temporaries",
                "generation.yaml", build,
                "LightLM beam search and RWKV + ProSG: energy/token and lifetime vs the memory holding temporaries"))
