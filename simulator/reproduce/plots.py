"""Drawing shared by the recipes: energy bars stacked by memory kind (leakage hatched) with their legend,
panel titles, categorical axes. Call inside :func:`simulator.reproduce.style.paper_style`.

The energy columns a frame carries for :func:`stacked_energy_bars`: ``<kind>_energy_per_inference_J``
(all of the kind's energy per inference, J) and ``<kind>_static_energy_per_inference_J`` (its leakage,
refresh and wake-up part, J) for every kind of :data:`KINDS`; :func:`energy_by_kind` makes them from a run.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simulator.reproduce import style

#: Energy breakdown kinds (summary keys ``<kind>_energy_per_inference_J``) in stacking order.
KINDS = ("compute", "sram", "nvm", "dram", "interconnect")
#: Legend names of the kinds.
KIND_NAMES = {"compute": "compute", "sram": "SRAM", "nvm": "NVM (ReRAM)", "dram": "DRAM (LPDDR4)",
              "interconnect": "interconnect"}
#: Bar width and edge of stacked bars.
_EDGE = dict(edgecolor="white", linewidth=0.3)


def static_by_kind(result) -> dict[str, float]:
    """Per component kind, the static part (leakage, refresh, wake-up: ``STATIC_CATEGORIES``) of the
    energy per inference of ``result`` (a :class:`simulator.results.result.Result`), J."""
    from simulator.results.result import STATIC_CATEGORIES

    table = result.per_component()
    n = max(1, result.n_requests)
    cols = [f"{c}_energy_J" for c in STATIC_CATEGORIES if f"{c}_energy_J" in table]
    return (table.groupby("kind")[cols].sum().sum(axis=1) / n).to_dict()


def energy_by_kind(result, summary: dict | None = None) -> dict[str, float]:
    """The columns :func:`stacked_energy_bars` draws, for one run: per kind of :data:`KINDS` its energy
    per inference and the static part of it, J."""
    s = summary if summary is not None else result.summary()
    static = static_by_kind(result)
    row = {}
    for kind in KINDS:
        row[f"{kind}_energy_per_inference_J"] = s[f"{kind}_energy_per_inference_J"]
        row[f"{kind}_static_energy_per_inference_J"] = static.get(kind, 0.0)
    return row


def stacked_energy_bars(ax, xs: Sequence[float], width: float, frame) -> np.ndarray:
    """Bars at ``xs`` of the energy per inference of each row of ``frame`` (a DataFrame with the columns of
    :func:`energy_by_kind`; a missing value counts as 0), stacked by kind in :data:`KINDS` order, each
    kind's static part hatched and lighter on top of its dynamic part; in mJ. Returns the bar tops, mJ."""
    bottom = np.zeros(len(xs))
    for k, kind in enumerate(KINDS):
        total = frame[f"{kind}_energy_per_inference_J"].fillna(0).to_numpy() * 1e3
        static = frame[f"{kind}_static_energy_per_inference_J"].fillna(0).to_numpy() * 1e3
        colour = style.PALETTE[k]
        ax.bar(xs, total - static, width, bottom=bottom, color=colour, **_EDGE)
        ax.bar(xs, static, width, bottom=bottom + total - static, color=colour, alpha=0.55, hatch="////", **_EDGE)
        bottom += total
    return bottom


def energy_legend(fig, ncol: int = 6) -> None:
    """The legend of :func:`stacked_energy_bars` (one patch per kind and the hatched static part) above
    the figure's panels."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=style.PALETTE[k], label=KIND_NAMES[kind]) for k, kind in enumerate(KINDS)]
    handles.append(Patch(facecolor="#999999", alpha=0.55, hatch="////", edgecolor="white",
                         label="leakage/refresh (hatched)"))
    fig.legend(handles=handles, loc="outside upper center", ncol=ncol, fontsize=6)


def panel_title(ax, text: str) -> None:
    """A panel's small left-aligned title (a letter "(a)" or a platform name)."""
    ax.set_title(text, loc="left", fontsize=7)


def letter_panels(axes) -> None:
    """Title the panels (a), (b), ... in order."""
    for ax, letter in zip(axes, "abcdefghijklmnopqrstuvwxyz"):
        panel_title(ax, f"({letter})")


def categorical_x(ax, positions: Sequence[float], labels: Sequence[str], **kwargs) -> None:
    """Category tick labels at ``positions`` (``kwargs`` go to ``set_xticks``: rotation, fontsize, ...),
    without vertical grid lines."""
    ax.set_xticks(positions, labels, **kwargs)
    ax.grid(axis="x", visible=False)
