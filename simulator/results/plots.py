"""Figures of a study for papers: the energy breakdown per platform and the service timeline.

Matplotlib with the non-interactive Agg backend (no display needed); each figure is saved in every
requested format (PNG at 200 dpi and vector PDF by default). Colours come from the Okabe–Ito palette,
which stays distinguishable under the common colour-vision deficiencies; leakage is hatched, so the
figures also read in greyscale. Inputs are SI; axes say their display unit (µJ, ms).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from simulator.results.tables import compute_units  # noqa: E402

#: Okabe & Ito (2008), "Color Universal Design": eight colours safe for colour-blind readers.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: Colours of the ledger categories in the timeline.
CATEGORY_COLOURS = {"compute": "#0072B2", "read": "#009E73", "write": "#D55E00", "switch_load": "#CC79A7",
                    "transfer": "#E69F00", "wakeup": "#56B4E9"}
#: Hatches used after the palette runs out (one more distinction without colour).
HATCHES = ("", "..", "xx", "\\\\")
#: Matplotlib style of every figure: readable print sizes.
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
         "savefig.bbox": "tight", "pdf.fonttype": 42, "svg.hashsalt": "hetsim"}
#: File metadata per format: no creation date, so the same run gives the same bytes.
_METADATA = {"png": {"Creator": "hetsim"}, "pdf": {"Creator": "hetsim", "CreationDate": None},
             "svg": {"Creator": "hetsim", "Date": None}}
#: Resolution of raster outputs, dots per inch.
PNG_DPI = 200


def _save(fig, stem: Path, formats: Sequence[str], concurrent: bool = False) -> list[Path]:
    """Save ``fig`` as ``stem.<fmt>`` for each format (png, pdf, svg), close it, return the paths.
    ``concurrent``: every format but the first is drawn in a forked child process at the same time as
    the first (the figure laid out once; for a worker process with a core to spare), where fork exists."""
    from simulator.processes import Forked, can_fork

    paths = [Path(stem).with_suffix(f".{fmt}") for fmt in formats]

    def write(path: Path, fmt: str) -> None:
        fig.savefig(path, dpi=PNG_DPI if fmt == "png" else None, metadata=_METADATA.get(fmt, {}))

    jobs = list(zip(paths, formats))
    here = 1 if concurrent and can_fork() else len(jobs)          # the formats drawn in this process
    children = [Forked(lambda p=p, f=f: write(p, f), f"writing {p.name}") for p, f in jobs[here:]]
    failed: list[RuntimeError] = []
    try:
        for path, fmt in jobs[:here]:
            write(path, fmt)
    finally:
        for child in children:
            try:
                child.wait()
            except RuntimeError as exc:
                failed.append(exc)
        plt.close(fig)
    if failed:
        raise failed[0]
    return paths


def warm_up() -> None:
    """Load what drawing the figures needs once in this process: the PNG and PDF backends and the PDF
    font subsetter (imported), the fonts and their glyphs (a small figure with text drawn into memory).
    For a process about to fork figure workers (``hetsim run`` does it while its platforms simulate):
    they inherit it instead of each paying for it. Writes nothing."""
    import importlib
    import io

    for module in ("matplotlib.backends.backend_pdf", "matplotlib.backends._backend_pdf_ps", "fontTools.subset",
                   "PIL.PngImagePlugin"):
        importlib.import_module(module)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(2.0, 1.5))
        ax.plot([0, 1], [0, 1])
        ax.set_title("warm-up 0123456789 (µJ, ms)")
        ax.legend(handles=[Patch(color=OKABE_ITO[0], label="compute")], frameon=False)
        fig.savefig(io.BytesIO(), format="png", dpi=PNG_DPI, metadata=_METADATA["png"])
        plt.close(fig)


def _component_label(component: str, results: dict[str, Any]) -> str:
    """Legend label of a ledger component: the memory's name with its technology in each platform
    (``backbone (sram-hp / rram)``), or the unit's name."""
    techs = []
    for result in results.values():
        mem = (getattr(result.platform, "memories", {}) or {}).get(component)
        tech = getattr(mem, "technology", "") if mem is not None else ""
        if tech and tech != component and tech not in techs:
            techs.append(tech)
    units = {u for result in results.values() for u in compute_units(result.platform)}
    name = component.replace("_", " ") if component in units else component
    return f"{name} ({' / '.join(techs)})" if techs else name


def breakdown_data(results: dict[str, Any]) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per component (links merged into ``interconnect``), the dynamic and the static (leakage, wake-up,
    refresh) energy per inference of each platform, J. Returns (components, dynamic, static)."""
    from simulator.results.tables import DYNAMIC_CATEGORIES, STATIC_CATEGORIES

    keys = list(results)
    dynamic: dict[str, np.ndarray] = {}
    static: dict[str, np.ndarray] = {}
    order: list[tuple[int, str]] = []
    rank = {"compute": 0, "sram": 1, "nvm": 2, "dram": 3, "interconnect": 4, "other": 5}
    for i, key in enumerate(keys):
        table = results[key].per_component()
        n = max(1, results[key].n_requests)
        for row in table.itertuples(index=False):
            comp = "interconnect" if row.kind == "interconnect" else row.component
            if comp not in dynamic:
                dynamic[comp], static[comp] = np.zeros(len(keys)), np.zeros(len(keys))
                order.append((rank.get(row.kind, 5), comp))
            row = row._asdict()
            dynamic[comp][i] += sum(row[f"{c}_energy_J"] for c in DYNAMIC_CATEGORIES) / n
            static[comp][i] += sum(row[f"{c}_energy_J"] for c in STATIC_CATEGORIES) / n
    components = [c for _, c in sorted(order, key=lambda x: x[0])]
    return components, dynamic, static


def energy_breakdown(results: dict[str, Any], stem: Path, formats: Sequence[str] = ("png", "pdf"), *,
                     concurrent: bool = False) -> list[Path]:
    """Stacked bars, one per platform, of energy per inference (µJ or mJ) by memory and compute unit; each
    component's leakage is the hatched part of its colour; a black tick marks each platform's lower bound.
    Writes ``stem.<fmt>`` (``concurrent``: see :func:`_save`); returns the paths."""
    from simulator.results.report import energy_unit

    components, dynamic, static = breakdown_data(results)
    unit, scale = energy_unit([sum(dynamic[c][i] + static[c][i] for c in components) for i in range(len(results))])
    keys = list(results)
    first = next(iter(results.values()))
    x = np.arange(len(keys))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(3.4, 1.1 * len(keys) + 2.6), 3.2))
        bottom = np.zeros(len(keys))
        handles = []
        for i, comp in enumerate(components):
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            hatch = HATCHES[(i // len(OKABE_ITO)) % len(HATCHES)]
            dyn, stat = dynamic[comp] / scale, static[comp] / scale
            ax.bar(x, dyn, 0.6, bottom=bottom, color=colour, hatch=hatch, edgecolor="white", linewidth=0.4)
            bottom += dyn
            ax.bar(x, stat, 0.6, bottom=bottom, color=colour, hatch=(hatch or "") + "////", alpha=0.55,
                   edgecolor="white", linewidth=0.4)
            bottom += stat
            handles.append(Patch(facecolor=colour, hatch=hatch, edgecolor="white",
                                 label=_component_label(comp, results)))
        handles.append(Patch(facecolor="#999999", hatch="////", alpha=0.55, edgecolor="white",
                             label="leakage/static (hatched)"))
        bounds = np.array([results[k].summary()["lower_bound_per_inference_J"] for k in keys]) / scale
        if np.isfinite(bounds).any():
            handles.append(ax.scatter(x, bounds, marker="_", s=400, linewidths=1.5, color="#000000", zorder=3,
                                      label="lower bound"))
        for xi, total in zip(x, bottom):
            ax.annotate(f"{total:.3g}", (xi, total), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
        from simulator.results.report import method_labels

        methods = method_labels(results)   # comparing methods: each bar says which one it serves
        labels = [f"{k}\n{methods[k]}" if methods else k for k in keys]
        ax.set_xticks(x, labels, rotation=20 if len(keys) > 3 else 0, ha="right" if len(keys) > 3 else "center")
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.set_xlabel("platform")
        ax.set_ylim(0, max(bottom.max(), 1e-12) * 1.12)
        ax.set_title(f"Energy per inference: {first.meta.get('model', '')}".rstrip(": "))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.yaxis.grid(True, linewidth=0.3, alpha=0.6)
        ax.set_axisbelow(True)
        return _save(fig, Path(stem), formats, concurrent)


def timeline_window(requests, count: int) -> list[int]:
    """Positions of ``count`` consecutive requests to draw, placed so the first task switch (if any)
    is inside the window."""
    n = len(requests)
    switches = [i for i, s in enumerate(requests["switch"].tolist()) if s and i > 0]
    start = max(0, min(switches[0] - count // 2, n - count)) if switches else 0
    return list(range(start, min(n, start + count)))


def timeline(results: dict[str, Any], stem: Path, formats: Sequence[str] = ("png", "pdf"), *,
             requests: int = 4, concurrent: bool = False) -> list[Path]:
    """One panel per platform: the busy intervals of each component (lanes) during ``requests``
    consecutive requests, coloured by ledger category (leakage and refresh, which only mark time passing,
    are left out), with idle gaps between requests removed (the x axis is service time, ms). Writes
    ``stem.<fmt>`` (``concurrent``: see :func:`_save`); returns the paths."""
    keys = list(results)
    with plt.rc_context(STYLE):
        lanes_per = [_timeline_lanes(results[k], requests) for k in keys]
        heights = [max(2, len(lanes)) * 0.22 + 0.7 for lanes, _, _ in lanes_per]
        fig, axes = plt.subplots(len(keys), 1, figsize=(7.0, sum(heights) + 0.6),
                                 gridspec_kw={"height_ratios": heights}, squeeze=False)
        used: set[str] = set()
        for ax, key, (lanes, bars, marks) in zip(axes[:, 0], keys, lanes_per):
            _bars(ax, [(spans, lanes.index(lane) - 0.4, 0.8, CATEGORY_COLOURS.get(cat, "#999999"))
                       for (lane, cat), spans in bars.items()])
            used.update(cat for _, cat in bars)
            rows = _label_rows(marks)
            for (x0, label), row in zip(marks, rows):
                ax.axvline(x0, color="#000000", linewidth=0.6, linestyle="--")
                ax.annotate(label, (x0, 0.99), xycoords=("data", "axes fraction"), fontsize=7,
                            xytext=(2, -8 * row), textcoords="offset points", va="top")
            ax.set_yticks(range(len(lanes)), [lane.replace("_", " ") for lane in lanes])
            # top to bottom, headroom for the request labels (a second line when labels would collide)
            ax.set_ylim(len(lanes) - 0.5, -1.4 - 0.7 * max(rows, default=0))
            ax.set_title(key, loc="left")
            ax.xaxis.grid(True, linewidth=0.3, alpha=0.6)
        axes[-1, 0].set_xlabel("service time (ms, idle gaps between requests removed)")
        fig.legend(handles=[Patch(color=CATEGORY_COLOURS[c], label=c.replace("_", " ")) for c in CATEGORY_COLOURS
                            if c in used], loc="upper center", ncol=min(7, max(1, len(used))),
                   bbox_to_anchor=(0.5, 1.0), frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        return _save(fig, Path(stem), formats, concurrent)


def _bars(ax, groups: Sequence[tuple[np.ndarray, float, float, str]]) -> None:
    """For each (spans, y, height, colour) of ``groups``, ``ax.broken_barh(spans, (y, height), color=colour)``
    without its per-rectangle unit conversion (thousands of bars): one rasterized PolyCollection (a raster
    inside a vector PDF) of every group's rectangles, built from the vertices at once and painted in the
    order of ``groups`` (as one collection per group would be). ``spans``: (start, width) rows."""
    verts, colours, corners = [], [], []
    for spans, y, height, colour in groups:
        xw = np.asarray(spans, dtype=float).reshape(-1, 2)
        if not len(xw):
            continue
        x0, x1 = xw[:, 0], xw[:, 0] + xw[:, 1]
        y0, y1 = np.full(len(xw), y), np.full(len(xw), y + height)
        verts.append(np.stack([np.column_stack(p) for p in ((x0, y0), (x0, y1), (x1, y1), (x1, y0))], axis=1))
        colours += [colour] * len(xw)
        corners += [(float(x0.min()), y), (float(x1.max()), y + height)]
    if not verts:
        return
    ax.add_collection(PolyCollection(np.concatenate(verts), facecolors=colours, linewidth=0, rasterized=True),
                      autolim=False)
    ax.update_datalim(corners)
    ax._request_autoscale_view()


def _timeline_lanes(result: Any, count: int):
    """(lanes, {(lane, category): (start, width) rows, ms}, [(x, "task [switch]") request starts]) of a
    result."""
    req = result.requests.reset_index(drop=True)
    picked = req.iloc[timeline_window(req, count)]
    from simulator.results.tables import STATIC_CATEGORIES

    rows = result.ledger_of(picked["request"].tolist())
    rows = rows[~rows["category"].isin([c for c in STATIC_CATEGORIES if c != "wakeup"])]
    rows = rows.assign(component=rows["component"].astype(object), category=rows["category"].astype(object))
    # idle time is removed between busy periods (nothing in service); requests served at once
    # (max_in_flight > 1) share their period's shift, so they overlap as they did
    offset, shift, marks = 0.0, {}, []
    base = t0 = 0.0
    period_end = -np.inf
    for r in picked.itertuples():
        if r.start_s >= period_end:          # nothing else in service: a new busy period
            base, t0, period_end, x = offset, r.start_s, r.end_s, offset
        else:
            period_end = max(period_end, r.end_s)
            x = base + (r.start_s - t0)
        shift[r.request] = base - t0
        marks.append((x * 1e3, f"#{r.request} {r.task}{' (switch)' if r.switch else ''}"))
        offset = base + (period_end - t0)
    units = compute_units(result.platform)
    lanes = [c for c in [*units, *getattr(result.platform, "memories", {})]
             if c in set(rows["component"])] + sorted(set(rows["component"]) - set(units)
                                                      - set(getattr(result.platform, "memories", {})))
    bars: dict[tuple[str, str], np.ndarray] = {}
    start = (rows["start_s"] + rows["request"].map(shift)).to_numpy() * 1e3
    width = np.maximum((rows["end_s"] - rows["start_s"]).to_numpy() * 1e3, 0.0)
    tolerance = offset * 1e3 * 1e-4  # gaps below 0.01 % of the window are invisible: merge across them
    for (comp, cat), idx in rows.groupby(["component", "category"], sort=False).indices.items():
        bars[(comp, cat)] = merge_spans(start[idx], width[idx], tolerance)
    return lanes, bars, marks


def _label_rows(marks: list[tuple[float, str]], axis_fraction_per_char: float = 0.0095) -> list[int]:
    """The line (0 or 1) of each request label at x (ms) so that neighbours do not overlap: a label goes
    to the first line where the previous one ends before it starts (estimated width: characters x
    ``axis_fraction_per_char`` of the x range at the figure's font size), else the first line."""
    if not marks:
        return []
    xs = [x for x, _ in marks]
    span = max(max(xs) - min(xs), 1e-12) * 1.15
    ends = [-np.inf, -np.inf]
    rows = []
    for x, label in marks:
        row = next((k for k, e in enumerate(ends) if e <= x), 0)
        ends[row] = x + len(label) * axis_fraction_per_char * span
        rows.append(row)
    return rows


def merge_spans(starts: np.ndarray, widths: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """The union of the intervals ``[start, start + width]`` as sorted (start, width) rows of an (n, 2)
    array, joining intervals separated by at most ``tolerance`` (same unit as the inputs)."""
    if len(starts) == 0:
        return np.empty((0, 2))
    order = np.argsort(starts, kind="stable")
    s, e = np.asarray(starts, float)[order], (np.asarray(starts, float) + np.asarray(widths, float))[order]
    reach = np.maximum.accumulate(e)
    new = np.concatenate([[True], s[1:] > reach[:-1] + tolerance])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:], [len(s)]]) - 1
    return np.column_stack([s[first], reach[last] - s[first]])


#: Line style of each configuration of the energy-vs-latency-target figure (EdgeBERT's comparison).
TARGET_STYLES = {"no early exit": ("-", "s"), "early exit": ("--", "o"), "early exit + DVFS": ("-", "^")}


def energy_vs_latency_target(results: dict[str, Any], stem: Path, formats: Sequence[str] = ("png", "pdf"), *,
                             concurrent: bool = False) -> list[Path]:
    """EdgeBERT's figure: energy per inference (µJ or mJ) against the latency target (ms), one panel per
    platform, one line per configuration (no early exit, early exit, early exit + DVFS) from each
    result's ``meta["dvfs_curve"]``; a hollow marker is a target some requests miss. [] when no result
    has a curve. ``concurrent``: see :func:`_save`."""
    curves = {k: r.meta["dvfs_curve"] for k, r in results.items() if r.meta.get("dvfs_curve") is not None}
    if not curves:
        return []
    from simulator.results.report import energy_unit

    symbol, scale = energy_unit([float(v) for c in curves.values() for v in c["energy_per_inference_J"]])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 2.8), squeeze=False, sharey=False)
        for ax, (key, curve) in zip(axes[0], curves.items()):
            for i, (name, (ls, marker)) in enumerate(TARGET_STYLES.items()):
                part = curve[curve["configuration"] == name]
                x = part["target_s"].to_numpy() * 1e3
                y = part["energy_per_inference_J"].to_numpy() / scale
                ok = part["missed"].to_numpy() == 0
                colour = OKABE_ITO[i]
                ax.plot(x, y, ls, color=colour, label=name, linewidth=1.2)
                ax.scatter(x[ok], y[ok], marker=marker, color=colour, s=16, zorder=3)
                ax.scatter(x[~ok], y[~ok], marker=marker, facecolors="none", edgecolors=colour, s=16, zorder=3)
            ax.set_xscale("log")
            ticks = np.unique(curve["target_s"].to_numpy() * 1e3)[::2]          # every other target, plainly
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
            ax.set_title(key)
            ax.set_xlabel("latency target (ms)")
            ax.set_ylim(bottom=0)
        axes[0][0].set_ylabel(f"energy per inference ({symbol})")
        axes[0][-1].legend(loc="best", frameon=False, title="hollow: targets missed")
        return _save(fig, stem, formats, concurrent)
