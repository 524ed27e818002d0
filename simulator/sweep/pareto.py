"""Pareto fronts: the points no other point beats on every objective."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from simulator.sweep.metrics import LATENCY_METRICS


def pareto_mask(values: np.ndarray, senses: Sequence[str] | None = None) -> np.ndarray:
    """(n,) bool: True for the non-dominated rows of ``values`` (n, k). ``senses``: ``min``/``max`` per
    column (default all ``min``). A row is dominated when another is at least as good in every column and
    strictly better in one; equal rows do not dominate each other. Rows with NaN are never on the front.

    Sorted lexicographically, a row can only be dominated by one before it, so each row is compared with
    the front found so far."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError("values: expected a 2-D array (points × objectives)")
    n, k = values.shape
    sign = np.array([-1.0 if s == "max" else 1.0 for s in (senses or ["min"] * k)])
    x = values * sign
    ok = ~np.isnan(x).any(axis=1)
    mask = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return mask
    order = idx[np.lexsort(x[idx].T[::-1])]
    front: list[int] = []
    F = np.empty((0, k))
    for i in order:
        xi = x[i]
        if len(front) and ((F <= xi).all(axis=1) & (F < xi).any(axis=1)).any():
            continue
        front.append(i)
        F = np.vstack([F, xi])
    mask[front] = True
    return mask


def eligible(frame: pd.DataFrame, objectives: dict[str, str], constraints: Sequence = ()) -> np.ndarray:
    """(n,) bool: rows that may be on the front: feasible, meeting every constraint, and not overloaded
    when an objective or constraint is a latency or throughput figure (an overloaded point's queue
    grows without bound: its latency means nothing)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    ok = frame["feasible"].to_numpy(bool).copy()
    named = set(objectives) | {c.metric for c in constraints}
    if named & set(LATENCY_METRICS):
        ok &= ~frame["overloaded"].to_numpy(bool)
    for c in constraints:
        with np.errstate(invalid="ignore"):
            ok &= np.asarray(c.holds(frame[c.metric].to_numpy(float)), dtype=bool)
    return ok


def front(frame: pd.DataFrame, objectives: dict[str, str], constraints: Sequence = ()) -> pd.DataFrame:
    """The rows of ``frame`` on the Pareto front of ``objectives`` among the eligible ones, sorted by the
    first objective."""
    if frame.empty:
        return frame
    ok = eligible(frame, objectives, constraints)
    sub = frame[ok]
    mask = pareto_mask(sub[list(objectives)].to_numpy(float), list(objectives.values()))
    first = next(iter(objectives))
    return sub[mask].sort_values(first, ascending=objectives[first] == "min", kind="stable")
