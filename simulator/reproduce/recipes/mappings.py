"""``mappings``: the seed study's three memory mappings for ALBERT and adapter-ALBERT.

The recipe's YAML is a plain study (``hetsim run`` runs it as it is) whose platform labels are
``<mapping>.<model>``. The bar figure is that study; the second figure re-runs it with the scenario's
task-switch probability set to each of :data:`SWITCH_PROBABILITIES` (same seed, same arrivals).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.reproduce.core import Caption, Context, Figure, Recipe, load_study, register
from simulator.reproduce.plots import energy_by_kind

#: Task-switch probabilities of the second figure (full run, and ``--quick``).
SWITCH_PROBABILITIES = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)
QUICK_SWITCH_PROBABILITIES = (0.0, 0.3, 1.0)
#: ``--quick``: requests per run and sequence length (the study's own otherwise).
QUICK_REQUESTS = 12
QUICK_SEQ_LEN = 32
#: Readable names of the mappings (label prefixes) and models (label suffixes).
MAPPING_NAMES = {"all-sram": "all on-chip SRAM", "dram-reload": "SRAM, reload from DRAM",
                 "rram-hetero": "ReRAM backbone + SRAM"}
MODEL_NAMES = {"ALBERT": "4 x ALBERT (per task)", "adapter-ALBERT": "adapter-ALBERT"}
#: Short tick labels: per bar (model) and per group (mapping); bar greys of panels (b)-(d) per model.
MODEL_SHORT = {"ALBERT": "4xALBERT", "adapter-ALBERT": "adapter"}
MAPPING_SHORT = {"all-sram": "all\nSRAM", "dram-reload": "DRAM\nreload", "rram-hetero": "ReRAM\n+SRAM"}
MODEL_GREYS = ("#555555", "#AAAAAA")


def split_label(label: str) -> tuple[str, str]:
    """``"rram-hetero.adapter-ALBERT"`` -> ``("rram-hetero", "adapter-ALBERT")``."""
    mapping, _, model = label.partition(".")
    return mapping, model


def load(context: Context):
    """The recipe's study, reduced with ``--quick``."""
    return load_study(context, QUICK_REQUESTS, QUICK_SEQ_LEN)


def summary_rows(results: dict, switch_probability: float) -> list[dict]:
    """One row per platform entry: the summary numbers the figures use (SI units) plus the static
    (leakage, refresh, wake-up) part of each kind's energy per inference."""
    rows = []
    for label, result in results.items():
        s = result.summary()
        mapping, model = split_label(label)
        row = {"label": label, "mapping": mapping, "model": model, "switch_probability": switch_probability,
               "requests": s["requests"], "switches": s["switches"],
               "energy_per_inference_J": s["energy_per_inference_J"],
               "static_energy_per_inference_J": s["leakage_energy_per_inference_J"],
               "latency_p50_s": s["latency_p50_s"], "latency_p99_s": s["latency_p99_s"],
               "average_power_W": s["average_power_W"], "area_m2": s["area_m2"],
               "nvm_write_bytes": s["nvm_write_bytes"], "nvm_lifetime_s": s["nvm_lifetime_s"]}
        row.update(energy_by_kind(result, s))
        rows.append(row)
    return rows


def build(context: Context) -> list[Figure]:
    """Run the study at its own switch probability (bars) and at each probability of the sweep."""
    from simulator.study.runner import run_study

    config = load(context)
    base_p = config.scenario.switch_probability
    probabilities = QUICK_SWITCH_PROBABILITIES if context.quick else SWITCH_PROBABILITIES
    rows: list[dict] = []
    for p in sorted(set(probabilities) | {base_p}):
        scenario = config.scenario.model_copy(update={"switch_probability": float(p)})
        results = run_study(config.model_copy(update={"scenario": scenario}), progress=context.progress)
        rows += summary_rows(results, float(p))
    data = pd.DataFrame(rows)
    bars = data[data["switch_probability"] == base_p].reset_index(drop=True)
    return [_bars_figure(bars, config), _switch_figure(data, config)]


def per_switch_energy(data: pd.DataFrame) -> dict[str, float]:
    """Per platform label, the energy one task switch adds, J: the least-squares slope of the run's total
    energy over its number of switches across the switch probabilities (same arrivals, same requests)."""
    out = {}
    for label, rows in data.groupby("label", sort=False):
        total = rows["energy_per_inference_J"] * rows["requests"]
        if rows["switches"].nunique() < 2:
            continue
        out[label] = float(np.polyfit(rows["switches"].astype(float), total, 1)[0])
    return out


def _order(data: pd.DataFrame) -> tuple[list[str], list[str]]:
    mappings = [m for m in MAPPING_NAMES if m in set(data["mapping"])]
    mappings += [m for m in dict.fromkeys(data["mapping"]) if m not in mappings]
    models = [m for m in MODEL_NAMES if m in set(data["model"])]
    models += [m for m in dict.fromkeys(data["model"]) if m not in models]
    return mappings, models


def _scenario_text(config) -> str:
    sc = config.scenario
    return (f"{config.model} ({config.adapter}, one per repetition) serving {len(config.tasks)} tasks "
            f"({', '.join(config.tasks)}); {sc.requests} Poisson requests at {sc.rate:g} Hz, seed {sc.seed}; "
            f"8-bit parameters, 16-bit activations, embeddings 60 % pruned (values + bit mask); "
            f"evaluator {config.evaluator}")


def _bars_figure(bars: pd.DataFrame, config) -> Figure:
    from simulator.reproduce import plots, style

    mappings, models = _order(bars)
    fig, axes = style.figure(4, 1, width_in=style.DOUBLE_COLUMN_IN, height_in=2.5)
    ax_e, ax_l, ax_p, ax_a = axes
    width = 0.4
    centres = np.arange(len(mappings))
    positions, ticklabels = [], []
    for j, model in enumerate(models):
        xs = centres + (j - (len(models) - 1) / 2) * width
        positions += list(xs)
        ticklabels += [MODEL_SHORT.get(model, model)] * len(mappings)
        sub = bars[bars["model"] == model].set_index("mapping").reindex(mappings)
        plots.stacked_energy_bars(ax_e, xs, width, sub)
        for ax, col, scale in ((ax_l, "latency_p99_s", 1e3), (ax_p, "average_power_W", 1e3),
                               (ax_a, "area_m2", 1e6)):
            ax.bar(xs, sub[col].to_numpy() * scale, width, color=MODEL_GREYS[j % len(MODEL_GREYS)],
                   edgecolor="white", linewidth=0.3)
    for ax in axes:
        ax.set_xticks(positions, ticklabels, rotation=90, fontsize=6)
        group = ax.secondary_xaxis(-0.42)
        group.set_xticks(centres, [MAPPING_SHORT.get(m, m) for m in mappings], fontsize=6.5)
        group.tick_params(length=0)
        group.spines["bottom"].set_visible(False)
        ax.grid(axis="x", visible=False)
    ax_e.set_ylabel("energy / inference (mJ)")
    ax_l.set_ylabel("p99 latency (ms)")
    ax_p.set_ylabel("average power (mW)")
    ax_a.set_ylabel("area (mm²)")
    plots.letter_panels(axes)
    plots.energy_legend(fig)
    sel = bars.set_index("label")
    e = sel["energy_per_inference_J"]
    parts = [f"{MAPPING_NAMES.get(split_label(k)[0], k)} / {split_label(k)[1]}: {v * 1e3:.1f} mJ"
             for k, v in e.items()]
    best = e.idxmin()
    ratio = []
    for mapping in mappings:
        a, b = f"{mapping}.ALBERT", f"{mapping}.adapter-ALBERT"
        if a in e and b in e:
            ratio.append(f"{MAPPING_NAMES.get(mapping, mapping)} {e[a] / e[b]:.2f}x")
    this_run = (f"energy per inference: {'; '.join(parts)}. Lowest: {best}. 4 x ALBERT over adapter-ALBERT on "
                f"the same mapping: {', '.join(ratio)}. Leakage (static) share of the energy: "
                + ", ".join(f"{k} {r.static_energy_per_inference_J / r.energy_per_inference_J:.0%}"
                            for k, r in sel.iterrows()) + ".")
    caption = Caption(
        shows=("(a) energy per inference stacked by memory kind and compute (leakage and DRAM refresh "
               "hatched), (b) p99 latency, (c) average power over the run, (d) area, for the three memory "
               "mappings, each serving four fully fine-tuned ALBERTs (left bar) and adapter-ALBERT (right). "
               "Mappings: all-sram = every parameter resident in on-chip SRAM (map-sram-albert: 40 MiB for "
               "four ALBERTs; edge-sram: 16 MiB for adapter-ALBERT); dram-reload = the parameters of one "
               "task in a 12 MiB SRAM, reloaded from LPDDR4 on a task switch (edge-sram-reload, issue 14); rram-hetero "
               "= edge-rram: shared backbone in a 16 MiB ReRAM, adapters and activations in SRAM, the "
               "per-task ALBERT copied into the ReRAM on a switch. " + _scenario_text(config) + "."),
        published=("The adapter-ALBERT paper reports qualitatively that the heterogeneous mapping (backbone "
                   "in ReRAM, adapters and activations in SRAM) saves energy against all-SRAM and against the "
                   "conventional design that reloads a full ALBERT from DRAM on a task switch, and that "
                   "adapter-ALBERT avoids the per-task parameter reloads; its exact figures were not "
                   "reachable here."),
        this_run=this_run,
        assumptions=("At 2 requests per second the device idles most of the time, so leakage decides: "
                     "CACTI 7's 22 nm high-performance SRAM (sram-hp) scaled to 12 nm. Between requests, each "
                     "past its break-even time, ReRAM is powered off, the SRAMs that hold parameters or "
                     "adapters drop to their data-retention voltage, the staging buffer is power-gated and "
                     "LPDDR4 self-refreshes (inside a request it powers down between its own transfers); "
                     "LPDDR4 powers come from Micron's datasheet currents. The all-SRAM mapping for "
                     "four ALBERTs needs 40 MiB, which sets its area and leakage; a different task count "
                     "changes that. The 12 nm clock (1 GHz) and voltages are assumptions (EdgeBERT's are "
                     "not public)."))
    return Figure("mappings-bars", "Three memory mappings: energy, latency, power, area", fig, bars, caption)


def _switch_figure(data: pd.DataFrame, config) -> Figure:
    from matplotlib.lines import Line2D

    from simulator.reproduce import style

    mappings, models = _order(data)
    fig, (top, bottom) = style.figure(1, 2, height_in=3.6, sharex=True)
    styles = ("-", "--", ":", "-.")
    lo = data["switch_probability"].min()
    for i, mapping in enumerate(mappings):
        for j, model in enumerate(models):
            rows = data[(data["mapping"] == mapping) & (data["model"] == model)].sort_values("switch_probability")
            e = rows["energy_per_inference_J"].to_numpy()
            kw = dict(color=style.PALETTE[i], linestyle=styles[j % 4], marker=style.MARKERS[i])
            top.plot(rows["switch_probability"], e * 1e3, **kw)
            bottom.plot(rows["switch_probability"], (e - e[0]) * 1e6, **kw)
    style.log_axis(top, "y")
    top.set_ylabel("energy / inference (mJ)")
    bottom.set_ylabel(f"added over p = {lo:g} (µJ)")
    bottom.set_xlabel("task-switch probability per request (fraction)")
    handles = [Line2D([], [], color=style.PALETTE[i], marker=style.MARKERS[i], label=MAPPING_NAMES.get(m, m))
               for i, m in enumerate(mappings)]
    handles += [Line2D([], [], color="#000000", linestyle=styles[j % 4], label=MODEL_NAMES.get(m, m))
                for j, m in enumerate(models)]
    top.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=6)
    piv = data.pivot_table(index="switch_probability", columns="label", values="energy_per_inference_J")
    hi = piv.index.max()
    growth = (piv.loc[hi] / piv.loc[lo]).sort_values()
    best_at = {p: piv.loc[p].idxmin() for p in piv.index}
    per_switch = per_switch_energy(data)
    this_run = ("energy per inference from switch probability "
                f"{lo:g} to {hi:g} changes by " + ", ".join(f"{k} {(v - 1) * 100:+.2f} %" for k, v in growth.items())
                + ". Energy per task switch (slope of total energy over the number of switches): "
                + ", ".join(f"{k} {round(v * 1e6) + 0:.0f} µJ" for k, v in per_switch.items())
                + ". Lowest energy at each probability: "
                + ", ".join(f"{p:g}: {k}" for p, k in best_at.items()) + ".")
    caption = Caption(
        shows=("Energy per inference (top) and the energy it adds over the lowest switch probability "
               "(bottom) against the probability that a request asks for another task than the "
               "one before, for each mapping (colour) and model (solid: four per-task ALBERTs, dashed: "
               "adapter-ALBERT). Same arrivals at every probability (seed fixed). " + _scenario_text(config)
               + "."),
        published=("The adapter-ALBERT paper argues qualitatively that a conventional per-task ALBERT pays a "
                   "full parameter reload on every task switch while adapter-ALBERT reloads only its small "
                   "adapters; no curve against switch probability was reachable."),
        this_run=this_run,
        assumptions=("A switch copies the task's owned parameters from LPDDR4 at its peak bandwidth (one "
                     "transfer at a time) and writes them at the home memory's write energy; ReRAM writes "
                     "cost NVMExplorer's write energy and count as wear. Task mix uniform over the four tasks."))
    return Figure("mappings-switch", "Energy per inference against task-switch probability", fig, data, caption)


register(Recipe("mappings", "the three memory mappings for ALBERT and adapter-ALBERT", "mappings.yaml", build,
                "all-SRAM / reload-from-DRAM / ReRAM+SRAM: energy, latency, power, area; vs switch probability"))
