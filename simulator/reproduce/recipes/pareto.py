"""``pareto``: a memory-configuration sweep's front, energy against area against p99 latency.

The recipe's YAML is a plain sweep file (``hetsim sweep`` runs it as it is): edge-rram with its memories
varied (backbone technology and banks, the activation SRAM's cell, the staging buffer's capacity) serving
the default study. The recipe runs it through :func:`simulator.sweep.run_sweep` into a temporary store,
takes the three-objective front with :func:`simulator.sweep.front` (feasible points, overloaded ones not
ranked: a latency is an objective) and draws two projections of it: energy against area and energy
against p99 latency, every point in grey, the front coloured by the backbone technology.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.reproduce.core import Caption, Context, Figure, Recipe, register

#: The axis that colours the front (the sweep file's ``color_by``).
TECH = "platform.memories.backbone.technology"
BANKS = "platform.memories.backbone.banks"
ACT = "platform.memories.act_sram.technology"
BUFFER = "platform.memories.buffer.capacity"
#: ``--quick``: these axis values (the rest of the file as it is), requests per point and sequence length.
QUICK_AXES = {TECH: ["rram", "sram-lstp"], BANKS: [8], ACT: ["sram-hp", "sram-lstp"],
              BUFFER: ["64 KiB", "128 KiB"]}
QUICK_REQUESTS = 12
QUICK_SEQ_LEN = 32
#: edge-rram as shipped, in the sweep's columns (its point is on the grid of the full sweep).
SHIPPED = {TECH: "rram", BANKS: 8, ACT: "sram-hp", BUFFER: 128 * 2**10}
#: Columns of the figure's CSV besides the axes.
METRICS = ("energy_per_inference_J", "area_m2", "latency_p99_s", "latency_p50_s",
           "leakage_energy_per_inference_J", "leakage_share", "offered_utilisation", "nvm_lifetime_s")


def sweep_dict(config: Path, quick: bool = False) -> dict:
    """The recipe's sweep file as a dict (what ``hetsim sweep`` reads), reduced with ``quick``: the axis
    values of :data:`QUICK_AXES`, :data:`QUICK_REQUESTS` requests per point, sequence length
    :data:`QUICK_SEQ_LEN` (as a one-value axis ``study.seq_len``)."""
    from simulator.reproduce.core import read_yaml

    data = read_yaml(config)
    if quick:
        data["axes"] = {**{k: QUICK_AXES.get(k, v) for k, v in data["axes"].items()},
                        "study.seq_len": [QUICK_SEQ_LEN]}
        data["requests"] = QUICK_REQUESTS
        data["name"] = f"{data.get('name', 'pareto')}-quick"
    return data


def run(context: Context, workers: int | None = None) -> tuple[object, pd.DataFrame]:
    """Run the recipe's sweep into a temporary store: (its SweepSpec, its rows)."""
    from simulator.sweep import run_sweep, spec_from_dict

    spec = spec_from_dict(sweep_dict(context.config, context.quick), str(context.config))
    with tempfile.TemporaryDirectory(prefix="hetsim-pareto-") as tmp:
        # --quick runs in this process (a pool costs more than a few points); the full sweep on every core
        rows = run_sweep(spec, Path(tmp) / "sweep", workers=workers or (1 if context.quick else None),
                         progress=context.progress, outputs=False)
    return spec, rows


def front_table(spec, rows: pd.DataFrame) -> pd.DataFrame:
    """Every point (axis values, :data:`METRICS`, feasible, overloaded, reason) with ``on_front``: on the
    front of the sweep's objectives (:func:`simulator.sweep.front`: feasible, constraints met, not
    overloaded, non-dominated)."""
    from simulator.sweep import front

    axes = [a.path for a in spec.axes]
    rows = rows[rows["evaluator"] == spec.evaluator].sort_values("point").reset_index(drop=True)
    top = front(rows, spec.objectives, spec.constraints)
    data = rows[["point", *axes, *METRICS, "feasible", "overloaded", "reason"]].copy()
    data["on_front"] = data["point"].isin(set(top["point"]))
    return data


def build(context: Context) -> list[Figure]:
    """Run the sweep; draw the front's two projections."""
    spec, rows = run(context)
    data = front_table(spec, rows)
    return [_figure(data, spec, context)]


def _figure(data: pd.DataFrame, spec, context: Context) -> Figure:
    from matplotlib.lines import Line2D

    from simulator.reproduce import style

    techs = list(dict.fromkeys(a for a in next(x.values for x in spec.axes if x.path == TECH)))
    fig, (ax_a, ax_l) = style.figure(2, 1, width_in=style.DOUBLE_COLUMN_IN, height_in=2.7, sharey=True)
    ok = data[data["feasible"].astype(bool)]
    others = ok[~ok["on_front"]]
    top = ok[ok["on_front"]]
    for ax, col, scale in ((ax_a, "area_m2", 1e6), (ax_l, "latency_p99_s", 1e3)):
        ax.scatter(others[col] * scale, others["energy_per_inference_J"] * 1e3, s=5, color="#BBBBBB",
                   linewidths=0, zorder=2)
        for i, tech in enumerate(techs):
            part = top[top[TECH] == tech]
            if len(part):
                ax.scatter(part[col] * scale, part["energy_per_inference_J"] * 1e3, s=16,
                           color=style.PALETTE[i % 8], marker=style.MARKERS[i % 8], edgecolors="black",
                           linewidths=0.3, zorder=3)
        shipped = _shipped(ok)
        if shipped is not None:
            ax.scatter([shipped[col] * scale], [shipped["energy_per_inference_J"] * 1e3], s=60,
                       facecolors="none", edgecolors="black", linewidths=0.8, zorder=4)
        style.log_axis(ax, "y")
    style.log_axis(ax_a, "x")
    style.log_axis(ax_l, "x")                   # a slow corner (few banks of a slow NVM) stretches the range
    ax_a.set_xlabel("area (mm²)")
    ax_l.set_xlabel("p99 latency (ms)")
    ax_a.set_ylabel("energy / inference (mJ)")
    for ax, letter in zip((ax_a, ax_l), "ab"):
        ax.set_title(f"({letter})", loc="left", fontsize=7)
    handles = [Line2D([], [], linestyle="none", marker=style.MARKERS[i % 8], color=style.PALETTE[i % 8],
                      markeredgecolor="black", markeredgewidth=0.3, label=f"front: {t} backbone")
               for i, t in enumerate(techs) if (top[TECH] == t).any()]
    handles += [Line2D([], [], linestyle="none", marker="o", color="#BBBBBB", label="dominated point"),
                Line2D([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="black",
                       markersize=7, label="edge-rram as shipped")]
    fig.legend(handles=handles, loc="outside upper center", ncol=min(5, len(handles)), fontsize=6)

    caption = Caption(
        shows=("A memory-configuration sweep of edge-rram (`hetsim sweep`, analytic evaluator: the "
               "closed form, equal to `hetsim run` per point) serving the default study's adapter-ALBERT "
               "(Houlsby m=8 per repetition, four tasks, 8-bit parameters, embeddings 60 % pruned), "
               f"{_requests(spec, context)} Poisson requests at 2 Hz: "
               + "; ".join(f"`{a.path.removeprefix('platform.memories.')}` in "
                           f"{', '.join(_text(v) for v in a.values)}" for a in spec.axes if a.path != "study.seq_len")
               + f" ({len(data)} points). Energy per inference against (a) area and (b) p99 latency, "
               "both projections of one three-objective front (energy, area, p99 latency: coloured, by "
               "backbone technology); dominated points grey; the circle is edge-rram as shipped. A point "
               "on the front may look dominated in one projection: it wins on the third objective."),
        published=("Neither seed paper publishes a design-space front: the adapter-ALBERT paper reports "
                   "its chosen point (ReRAM backbone, SRAM for adapters and activations) against all-SRAM "
                   "and a DRAM-reload baseline, EdgeBERT its one 12 nm design."),
        this_run=_this_run(data, spec),
        assumptions=("Memory figures are NVMExplorer's 22 nm cells scaled to 12 nm (ReRAM, STT/SOT-MRAM, "
                     "PCM, FeFET: best-case published cells) and CACTI 7's SRAM; between requests non-volatile "
                     "backbones are powered off, SRAM backbones stay on, the activation SRAM drops to its "
                     "data-retention voltage and the buffer is gated; at 2 Hz the device idles most of "
                     "the time, so standby leakage decides energy. Area counts the memory arrays and the "
                     "compute units. A bank count changes the array organisation (access energy, latency, "
                     "area per bank), the buffer capacity the tiling and its refetch. Points whose "
                     "placement fails or whose queue grows without bound (overloaded) are not ranked."))
    return Figure("pareto", "Memory-configuration front: energy, area, p99 latency", fig, data, caption)


def _requests(spec, context: Context) -> int:
    return spec.requests or (QUICK_REQUESTS if context.quick else 100)


def _text(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1024:
        return f"{value / 1024:g} KiB"
    return str(value)


def _shipped(data: pd.DataFrame):
    """The row of edge-rram as shipped, or None when the sweep does not hold it."""
    mask = np.ones(len(data), dtype=bool)
    for col, value in SHIPPED.items():
        if col not in data:
            return None
        mask &= (data[col] == value).to_numpy()
    return data[mask].iloc[0] if mask.any() else None


def _describe(row) -> str:
    return (f"{row[TECH]} backbone in {int(row[BANKS])} banks, {row[ACT]} activation SRAM, "
            f"{row[BUFFER] / 1024:g} KiB buffer")


def _this_run(data: pd.DataFrame, spec) -> str:
    ok = data[data["feasible"].astype(bool)]
    top = ok[ok["on_front"]]
    if top.empty:
        return f"no feasible, non-overloaded point among {len(data)}."
    counts = top[TECH].value_counts()
    least_e = top.loc[top["energy_per_inference_J"].idxmin()]
    least_a = top.loc[top["area_m2"].idxmin()]
    least_l = top.loc[top["latency_p99_s"].idxmin()]
    parts = [f"{len(ok)} of {len(data)} points feasible, {int(ok['overloaded'].sum())} overloaded; "
             f"{len(top)} on the front (by backbone: "
             + ", ".join(f"{t} {n}" for t, n in counts.items()) + ")",
             f"least energy {least_e['energy_per_inference_J'] * 1e3:.3g} mJ ({_describe(least_e)}; "
             f"{least_e['area_m2'] * 1e6:.3g} mm², p99 {least_e['latency_p99_s'] * 1e3:.3g} ms)",
             f"least area {least_a['area_m2'] * 1e6:.3g} mm² ({_describe(least_a)}; "
             f"{least_a['energy_per_inference_J'] * 1e3:.3g} mJ)",
             f"least p99 latency {least_l['latency_p99_s'] * 1e3:.3g} ms ({_describe(least_l)}; "
             f"{least_l['energy_per_inference_J'] * 1e3:.3g} mJ)"]
    by_cell = ok.groupby(ACT)["energy_per_inference_J"].median()
    if len(by_cell) > 1:
        parts.append("median energy by activation-SRAM cell: " + ", ".join(
            f"{cell} {e * 1e3:.3g} mJ" for cell, e in by_cell.sort_values().items()))
    shipped = _shipped(ok)
    if shipped is not None:
        where = "on the front" if shipped["on_front"] else "dominated"
        parts.append(f"edge-rram as shipped: {shipped['energy_per_inference_J'] * 1e3:.3g} mJ, "
                     f"{shipped['area_m2'] * 1e6:.3g} mm², p99 {shipped['latency_p99_s'] * 1e3:.3g} ms, {where}; "
                     f"the least-energy front point needs "
                     f"{least_e['energy_per_inference_J'] / shipped['energy_per_inference_J']:.2f}x its energy")
    return "; ".join(parts) + "."


register(Recipe("pareto", "a memory-configuration sweep's front", "pareto.yaml", build,
                "edge-rram's memories swept (hetsim sweep): energy vs area vs p99 latency front"))
