"""What a sweep writes beside its store: ``pareto.csv``, ``sweep.md`` and the figures (PNG and PDF)."""
from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.sweep.pareto import eligible, front
from simulator.sweep.store import write_atomic

#: Display unit per metric suffix: (unit, scale).
_DISPLAY = {"_J": ("mJ", 1e-3), "_s": ("ms", 1e-3), "_m2": ("mm²", 1e-6), "_W": ("mW", 1e-3),
            "_bytes": ("MiB", 2.0 ** 20)}


def display(metric: str) -> tuple[str, float]:
    """(label with unit, scale) to show a metric in a table or on an axis."""
    for suffix, (unit, scale) in _DISPLAY.items():
        if metric.endswith(suffix):
            return f"{metric[:-len(suffix)]} ({unit})", scale
    return metric, 1.0


def _axis_label(path: str) -> str:
    return path


def main_rows(spec, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the sweep's own evaluator (the store also holds the front's engine confirmations)."""
    if frame.empty:
        return frame
    return frame[frame["evaluator"] == spec.evaluator].reset_index(drop=True)


def pareto_table(spec, frame: pd.DataFrame) -> pd.DataFrame:
    """The front of the sweep's evaluator rows, with the engine's figures beside (``engine_<metric>``)
    when the front was confirmed."""
    rows = main_rows(spec, frame)
    top = front(rows, spec.objectives, spec.constraints)
    cols = ["point_id", "point"] + spec.axis_paths + list(spec.objectives) + \
        [c for c in ("offered_utilisation", "overloaded", "evaluator") if c in top.columns]
    cols = list(dict.fromkeys(c for c in cols if c in top.columns))
    table = top[cols].copy()
    engine = frame[frame["evaluator"] == "engine"] if spec.evaluator != "engine" and not frame.empty else None
    if engine is not None and len(engine):
        eng = engine.set_index("point_id")
        for m in spec.objectives:
            table[f"engine_{m}"] = table["point_id"].map(eng[m]) if m in eng else np.nan
    return table


def write_outputs(spec, frame: pd.DataFrame, out: Path, stats: dict) -> dict[str, list[Path]]:
    """Write pareto.csv, sweep.md and the figures into ``out`` (each file atomically)."""
    table = pareto_table(spec, frame)
    write_atomic(out / "pareto.csv", table.to_csv(index=False).encode())
    figures = write_figures(spec, frame, out) if not frame.empty else {}
    write_atomic(out / "sweep.md", sweep_markdown(spec, frame, table, stats, figures).encode())
    return figures


def sweep_markdown(spec, frame: pd.DataFrame, table: pd.DataFrame, stats: dict,
                   figures: dict[str, list[Path]]) -> str:
    """The sweep's report: what was swept, counts, the front, the time taken, the figures."""
    rows = main_rows(spec, frame)
    n = len(rows)
    feasible = int(rows["feasible"].sum()) if n else 0
    overloaded = int(rows["overloaded"].sum()) if n else 0
    ok = int(eligible(rows, spec.objectives, spec.constraints).sum()) if n else 0
    before = stats.get("stored_before", 0)
    stored = f", {before} found in the store" if before else ""
    out = io.StringIO()
    w = out.write
    w(f"# Sweep {spec.name}\n\n")
    if spec.description:
        w(spec.description.strip() + "\n\n")
    w(f"Base study `{spec.study}`, platform(s) {', '.join(f'`{p}`' for p in (p['platform'] for p in spec.platforms)) or 'of the study'}; "
      f"method `{spec.method}`{f' ({spec.n} points)' if spec.n else ''}, evaluator `{spec.evaluator}`"
      f"{', front confirmed in the engine' if spec.confirm_front else ''}.\n\n")
    w("| axis | values |\n| --- | --- |\n")
    for a in spec.axes:
        vals = ", ".join(map(str, a.values)) if a.discrete else \
            f"{a.written(a.low)} .. {a.written(a.high)} ({a.scale}, continuous)"
        w(f"| `{a.path}` | {vals} |\n")
    w(f"\n**{n} points**: {feasible} feasible, {n - feasible} not (placement failed), {overloaded} overloaded "
      f"(offered utilisation = arrival rate × mean service time > 1: the queue grows without bound, latency not ranked); "
      f"{ok} meet the constraints{' (' + '; '.join(c.text for c in spec.constraints) + ')' if spec.constraints else ''}. "
      f"{stats.get('evaluated', 0)} evaluated in this run{stored}"
      f" in {stats.get('seconds', 0.0):.1f} s.\n\n")
    objectives = ", ".join(f"{m} ({s})" for m, s in spec.objectives.items())
    w(f"## Pareto front ({len(table)} points; objectives {objectives})\n\n")
    if len(table):
        show = table.head(40)
        head = [c for c in show.columns if c not in ("point_id",)]
        labels = []
        for c in head:
            label, _ = display(c) if c in spec.objectives or c.startswith("engine_") else (c, 1.0)
            labels.append(label)
        w("| " + " | ".join(labels) + " |\n|" + " --- |" * len(head) + "\n")
        for _, row in show.iterrows():
            cells = []
            for c in head:
                v = row[c]
                if c in spec.objectives or c.startswith("engine_"):
                    v = v / display(c)[1] if isinstance(v, (float, np.floating)) else v
                elif c.endswith(".capacity") and isinstance(v, (float, np.floating)):
                    v = f"{v / 1024:g} KiB"
                cells.append(f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v))
            w("| " + " | ".join(cells) + " |\n")
        if len(table) > 40:
            w(f"\n({len(table) - 40} more in pareto.csv)\n")
    else:
        w("No feasible point meets the constraints.\n")
    if figures:
        w("\n## Figures\n\n")
        for name, paths in figures.items():
            png = next((p for p in paths if p.suffix == ".png"), paths[0])
            w(f"![{name}]({png.relative_to(png.parent.parent) if png.parent.name == 'figures' else png.name})\n\n")
    w("\nAll rows: `points.parquet/` (`simulator.sweep.load_sweep(DIR)`); SI units, one column per axis "
      "(named by its path) and per summary metric.\n")
    return out.getvalue()


def _color_axis(spec, rows: pd.DataFrame) -> str | None:
    if spec.color_by:
        return spec.color_by
    paths = spec.axis_paths
    return paths[0] if paths else None


def _save(fig, path: Path, formats=("png", "pdf")) -> list[Path]:
    out = []
    for fmt in formats:
        p = path.with_suffix(f".{fmt}")
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight")
        write_atomic(p, buf.getvalue())
        out.append(p)
    return out


def write_figures(spec, frame: pd.DataFrame, out: Path) -> dict[str, list[Path]]:
    """Pareto-front figures (one per pair of objectives; front highlighted, points coloured by an axis)
    and one sensitivity figure per axis (each objective against the axis value; the spread over the other
    axes as a band and points), PNG and PDF, in ``out/figures/``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = main_rows(spec, frame)
    rows = rows[rows["feasible"]]
    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    result: dict[str, list[Path]] = {}
    if rows.empty:
        return result
    objectives = list(spec.objectives)
    pairs = list(itertools.combinations(objectives, 2)) or [(objectives[0], objectives[0])]
    color = _color_axis(spec, rows)
    for x, y in pairs:
        ok = eligible(rows, {x: spec.objectives[x], y: spec.objectives[y]}, spec.constraints)
        sub = rows[ok]
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
        (xl, xs), (yl, ys) = display(x), display(y)
        _scatter(ax, rows[~ok], x, y, xs, ys, None, alpha=0.15, label="excluded (constraint or overloaded)")
        handles = _scatter(ax, sub, x, y, xs, ys, color, alpha=0.55)
        top = front(sub, {x: spec.objectives[x], y: spec.objectives[y]}, [])
        ax.plot(top[x] / xs, top[y] / ys, "-o", color="black", mfc="none", ms=7, lw=1.2, label="Pareto front")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        for label, values in ((x, rows[x]), (y, rows[y])):
            pass
        if _spans(rows[x]):
            ax.set_xscale("log")
        if _spans(rows[y]):
            ax.set_yscale("log")
        ax.set_title(f"{spec.name}: {x} vs {y}", fontsize=10)
        ax.legend(handles=handles + ax.get_legend_handles_labels()[0][-1:], fontsize=7, title=color,
                  title_fontsize=7, loc="best")
        ax.grid(alpha=0.3)
        result[f"front_{x}_{y}"] = _save(fig, figdir / f"front_{x}__{y}")
        plt.close(fig)
    for path in spec.axis_paths:
        fig, axes = plt.subplots(1, len(objectives), figsize=(4.2 * len(objectives), 3.6), squeeze=False)
        values = rows[path]
        numeric = pd.api.types.is_numeric_dtype(values)
        levels = sorted(values.unique()) if numeric else list(dict.fromkeys(values))
        pos = np.array(levels, dtype=float) if numeric else np.arange(len(levels), dtype=float)
        where = {v: p for v, p in zip(levels, pos)}
        for ax, m in zip(axes[0], objectives):
            label, scale = display(m)
            y = rows[m] / scale
            xpos = values.map(where).to_numpy(float)
            jitter = 0.0 if numeric else (np.random.default_rng(0).random(len(xpos)) - 0.5) * 0.25
            ax.scatter(xpos + jitter, y, s=6, alpha=0.25, color="tab:blue", label="points (other axes vary)")
            stats = y.groupby(values).agg(["min", "median", "max"]).reindex(levels)
            ax.fill_between(pos, stats["min"], stats["max"], color="tab:blue", alpha=0.12, label="spread")
            ax.plot(pos, stats["median"], "-o", color="tab:red", ms=4, label="median")
            ax.set_xlabel(path, fontsize=8)
            ax.set_ylabel(label)
            if numeric and len(levels) > 2 and levels[0] > 0 and levels[-1] / levels[0] > 20:
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(pos, [str(v) for v in levels], rotation=30, fontsize=7)
            if _spans(y):
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"{spec.name}: sensitivity to {path}", fontsize=10)
        fig.tight_layout()
        safe = path.replace(".", "_")
        result[f"sensitivity_{safe}"] = _save(fig, figdir / f"sensitivity_{safe}")
        plt.close(fig)
    return result


def _spans(values: Any) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return len(v) > 1 and v.max() / v.min() > 50


def _scatter(ax, rows, x, y, xs, ys, color, alpha, label=None):
    import matplotlib.pyplot as plt

    if rows.empty:
        return []
    if color is None or color not in rows:
        h = ax.scatter(rows[x] / xs, rows[y] / ys, s=8, color="grey", alpha=alpha, label=label)
        return [h] if label else []
    values = rows[color]
    handles = []
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > 8:
        h = ax.scatter(rows[x] / xs, rows[y] / ys, s=8, c=values, cmap="viridis", alpha=alpha)
        plt.colorbar(h, ax=ax, label=color)
        return handles
    cmap = plt.get_cmap("tab10")
    for i, level in enumerate(sorted(values.unique(), key=str)):
        sel = values == level
        h = ax.scatter(rows.loc[sel, x] / xs, rows.loc[sel, y] / ys, s=8, color=cmap(i % 10), alpha=alpha,
                       label=f"{level:g}" if isinstance(level, float) else str(level))
        handles.append(h)
    return handles
