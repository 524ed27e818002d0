"""The paper style of every ``hetsim reproduce`` figure, and saving a figure as PNG + PDF.

One matplotlib style file (``hetsim.mplstyle`` beside this module): single-column width (3.5 in), 8 pt
text, the Okabe–Ito colour-blind-safe palette, constrained layout. :func:`figure` opens a figure in that
style; :func:`save` writes it as ``stem.png`` and ``stem.pdf`` after checking that no two text labels
overlap (:func:`overlapping_texts`) and that every axis has a label with a unit in parentheses or brackets
(:func:`unlabelled_axes`).
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: The style file of every reproduce figure.
STYLE_FILE = Path(__file__).with_name("hetsim.mplstyle")
#: Okabe & Ito (2008): colours distinguishable under the common colour-vision deficiencies (the style's cycle);
#: yellow last (it reads poorly on white as a thin line).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
#: Markers paired with the palette, so series also differ in greyscale.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Hatches for bar segments beyond colour.
HATCHES = ("", "////", "....", "xxxx", "\\\\\\\\", "oo")
#: Single-column and double-column widths, inches (IEEE/ACM two-column formats).
SINGLE_COLUMN_IN = 3.5
DOUBLE_COLUMN_IN = 7.16
#: PNG resolution of committed reference figures (small files), dots per inch; PDFs are vector.
PNG_DPI = 200
#: An axis label carries its unit like "energy (mJ)" or "rate [Hz]", or says it is a count/ratio.
_UNIT = re.compile(r"\(.+\)|\[.+\]")


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Within the block, matplotlib uses the hetsim paper style."""
    with plt.style.context(str(STYLE_FILE)):
        yield


def figure(ncols: int = 1, nrows: int = 1, *, width_in: float = SINGLE_COLUMN_IN, height_in: float = 2.6,
           **kwargs):
    """A new (figure, axes) in the paper style, ``width_in`` × ``height_in`` inches (call inside
    :func:`paper_style`)."""
    return plt.subplots(nrows, ncols, figsize=(width_in, height_in), **kwargs)


def _drawn_tick_labels(axis) -> list:
    """The tick labels of ``axis`` that are drawn: visible, non-empty, at a tick inside the view limits."""
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) or 1.0
    out = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        loc = tick.get_loc()
        if loc is None or not (lo - 1e-9 * span <= loc <= hi + 1e-9 * span):
            continue
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text().strip():
                out.append(label)
    return out


def _texts(fig) -> list:
    """Every drawn, non-empty text of ``fig``: axis labels, titles, legends, annotations, and the tick
    labels inside the view limits (tick labels outside them exist but are not drawn)."""
    ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
    out = [t for t in fig.findobj(matplotlib.text.Text)
           if id(t) not in ticks and t.get_visible() and t.get_text().strip()]
    for ax in fig.axes:
        if ax.get_visible() and ax.axison:
            out += _drawn_tick_labels(ax.xaxis) + _drawn_tick_labels(ax.yaxis)
    return out


def overlapping_texts(fig, tolerance_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of text labels of ``fig`` whose rendered boxes overlap by more than ``tolerance_px`` pixels
    each way (after a draw). Legend entries are checked against everything else too."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for t in _texts(fig):
        try:
            bb = t.get_window_extent(renderer)
        except (RuntimeError, ValueError):  # pragma: no cover - text without a renderer position
            continue
        if bb.width > 0 and bb.height > 0:
            boxes.append((t.get_text(), bb))
    pairs = []
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1:]:
            dx = min(a.x1, b.x1) - max(a.x0, b.x0)
            dy = min(a.y1, b.y1) - max(a.y0, b.y0)
            if dx > tolerance_px and dy > tolerance_px:
                pairs.append((ta, tb))
    return pairs


def unlabelled_axes(fig) -> list[str]:
    """Axis labels of ``fig`` that are missing or carry no unit ("(mJ)", "[Hz]", "(count)", "(×)").
    A categorical axis (string tick labels, e.g. platform names) needs no unit and is skipped."""
    fig.canvas.draw()
    missing = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            drawn = _drawn_tick_labels(axis)
            if not drawn or _categorical(drawn):  # a shared axis without labels, or categories
                continue
            label = axis.get_label_text()
            if not _UNIT.search(label or ""):
                missing.append(f"{ax.get_title() or 'axes'}: {name}: {label!r}")
    return missing


def log_axis(ax, which: str = "y") -> None:
    """A log-scaled axis with plain-number tick labels at 1, 2 and 5 per decade (readable when the data
    span less than a decade), no minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _categorical(ticklabels) -> bool:
    texts = [t.get_text().replace("\u2212", "-") for t in ticklabels if t.get_text()]
    if not texts:
        return False
    numeric = re.compile(r"^[-+]?[\d.,]+(e[-+]?\d+)?%?$|^\$.*\$$|^[\d.]+[kMG]?$")
    return not all(numeric.match(s) for s in texts)


def save(fig, stem: Path, formats: Sequence[str] = ("png", "pdf")) -> tuple[list[Path], list[str]]:
    """Write ``fig`` as ``stem.<fmt>`` for each format, close it; returns (paths, problems) where the
    problems are overlapping labels and axes without units (empty for a clean figure)."""
    problems = [f"labels overlap: {a!r} and {b!r}" for a, b in overlapping_texts(fig)]
    problems += [f"axis without a unit: {m}" for m in unlabelled_axes(fig)]
    paths = []
    for fmt in formats:
        path = Path(stem).with_suffix(f".{fmt}")
        meta = ({"Creator": "hetsim reproduce", "CreationDate": None} if fmt == "pdf"  # reproducible bytes
                else {"Software": "hetsim reproduce"})
        fig.savefig(path, dpi=PNG_DPI if fmt == "png" else None, metadata=meta)
        paths.append(path)
    plt.close(fig)
    return paths, problems
