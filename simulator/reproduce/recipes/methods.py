"""``methods``: distilled vs Houlsby vs LoRA vs mixture vs per-task models on one platform.

The recipe's YAML is a plain study whose platform entries each serve one method (issue 14's per-entry
``model``/``adapter``/``mode``), all on the same platform and request stream. The figure shows energy per
inference (by memory kind, leakage hatched), p99 latency and the parameter footprint of serving all the
study's tasks (every parameter tensor the placement stored: shared ones once, task-owned ones per task).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw_models.vocabulary import PARAMETER_ROLES
from simulator.reproduce.core import Caption, Context, Figure, Recipe, load_study, register

QUICK_REQUESTS = 12
QUICK_SEQ_LEN = 32


def load(context: Context):
    """The recipe's study, reduced with ``--quick``."""
    return load_study(context, QUICK_REQUESTS, QUICK_SEQ_LEN)


def parameter_footprint(result) -> tuple[float, float]:
    """(all tasks' parameter bytes, the bytes one task adds): every distinct parameter tensor of the
    placement table (shared ones once, each task's own per task); per task = the first task's own bytes."""
    table = result.placement.table
    params = table[table["role"].isin(PARAMETER_ROLES)]
    total = float(params["bytes"].sum())
    owned = params[params["owner"] != "shared"]
    first = owned["owner"].iloc[0] if len(owned) else None
    per_task = float(owned[owned["owner"] == first]["bytes"].sum()) if first is not None else 0.0
    return total, per_task


def build(context: Context) -> list[Figure]:
    """Run the study; one row per method."""
    from simulator.reproduce import plots, style
    from simulator.study.runner import run_study

    config = load(context)
    results = run_study(config, progress=context.progress)
    rows = []
    for entry in config.platforms:
        result = results[entry.key]
        s = result.summary()
        total, per_task = parameter_footprint(result)
        row = {"label": entry.key, "method": entry.method(config), "platform": entry.platform,
               "energy_per_inference_J": s["energy_per_inference_J"],
               "static_energy_per_inference_J": s["leakage_energy_per_inference_J"],
               "latency_p50_s": s["latency_p50_s"], "latency_p99_s": s["latency_p99_s"],
               "average_power_W": s["average_power_W"], "area_m2": s["area_m2"],
               "parameter_bytes": total, "bytes_per_task": per_task, "tasks": len(config.tasks),
               "switches": s["switches"], "nvm_write_bytes": s["nvm_write_bytes"],
               "nvm_lifetime_s": s["nvm_lifetime_s"]}
        row.update(plots.energy_by_kind(result, s))
        rows.append(row)
    data = pd.DataFrame(rows)

    fig, (ax_e, ax_l, ax_f) = style.figure(3, 1, width_in=style.DOUBLE_COLUMN_IN, height_in=2.4)
    x = np.arange(len(data))
    plots.stacked_energy_bars(ax_e, x, 0.6, data)
    ax_l.bar(x, data["latency_p99_s"] * 1e3, 0.6, color="#555555")
    ax_l.scatter(x, data["latency_p50_s"] * 1e3, marker="_", s=120, color="#E69F00", zorder=3, label="p50")
    ax_f.bar(x, data["parameter_bytes"] / 2**20, 0.6, color="#555555")
    for ax in (ax_e, ax_l, ax_f):
        plots.categorical_x(ax, x, data["label"], rotation=45, ha="right", rotation_mode="anchor", fontsize=6.5)
    ax_e.set_ylabel("energy / inference (mJ)")
    ax_l.set_ylabel("latency (ms): bar p99, tick p50")
    ax_f.set_ylabel(f"parameters, {len(config.tasks)} tasks (MiB)")
    plots.letter_panels((ax_e, ax_l, ax_f))
    plots.energy_legend(fig)

    d = data.set_index("label")
    best = d["energy_per_inference_J"].idxmin()
    smallest = d["parameter_bytes"].idxmin()
    this_run = ("energy per inference: " + ", ".join(f"{k} {v * 1e3:.3g} mJ" for k, v in d["energy_per_inference_J"].items())
                + f" (least: {best}); p99 latency: "
                + ", ".join(f"{k} {v * 1e3:.3g} ms" for k, v in d["latency_p99_s"].items())
                + f"; parameters for {len(config.tasks)} tasks: "
                + ", ".join(f"{k} {v / 2**20:.3g} MiB" for k, v in d["parameter_bytes"].items())
                + f" (least: {smallest}); each added task costs "
                + ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in d["bytes_per_task"].items()) + ".")
    caption = Caption(
        shows=("(a) energy per inference by memory kind (leakage hatched), (b) latency (p99 bars, p50 ticks), "
               f"(c) parameter storage for {len(config.tasks)} tasks, for each method on "
               f"{', '.join(dict.fromkeys(p.platform for p in config.platforms))}: "
               + "; ".join(f"{p.key} = {p.method(config)}" for p in config.platforms)
               + f". {config.scenario.requests} Poisson requests at {config.scenario.rate:g} Hz, switch "
               f"probability {config.scenario.switch_probability:g}; 8-bit parameters, 16-bit activations, "
               f"embeddings 60 % pruned; evaluator {config.evaluator}."),
        published=("The adapter-ALBERT paper argues (qualitatively) that adapters keep the task-specific part "
                   "small enough for SRAM while the backbone is shared in ReRAM, against per-task fine-tuned "
                   "models; ALTER (Xie et al., 2023) proposes a mixture of task adapters on small models; "
                   "neither publishes hardware energy for LoRA or distilled models on this platform."),
        this_run=this_run,
        assumptions=("Per-task models (distilled TinyBERT-4L or ALBERT) own every parameter, so a task switch "
                     "reloads the whole model from LPDDR4 into the ReRAM backbone (write energy and wear); "
                     "adapter methods reload only their task's adapters and head into SRAM. LoRA is kept "
                     "separate (two extra small matmuls per target); the mixture runs all its task adapters "
                     "and a gate. Random weights: accuracy is not modelled, so a cheaper method is not "
                     "claimed to be as accurate."))
    return [Figure("methods", "Task-adaptation methods on one platform", fig, data, caption)]


register(Recipe("methods", "task-adaptation methods side by side on one platform", "methods.yaml", build,
                "distilled / Houlsby / LoRA / mixture / per-task ALBERT: energy, latency, footprint"))
