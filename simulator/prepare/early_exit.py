"""Early exit per request (EdgeBERT): which layer each request exits after, and what it then runs.

A model traced with exit heads (``workloads.multitask.trace_tasks(..., exits=[...])``) holds the longest
path: every layer and every exit head. ``trace.meta["early_exit"]`` says how many ops (a prefix of the
trace, which runs in layer order) a request exiting after layer ``k`` runs: the embeddings, layers
``0 .. k-1`` and the heads after layers ``<= k``, each with its entropy check. A request with
``Request.exit_layer = k`` runs exactly that prefix (:func:`variant_arrays`; its key is ``<task>@exit<k>``),
in the engine and in the closed form alike; ``None`` (or ``k = L``) runs everything.

Where requests exit is a study setting (:func:`draw_exit_layers`), seeded:

- ``table``: ``{k: weight}``, the exit layer drawn from these weights;
- ``entropy``: per request a difficulty ``z ~ N(0, 1)``; the entropy of exit ``k``'s prediction is
  ``e_k = mean_k · exp(spread · z)`` with ``mean_k`` falling geometrically from ``first`` (after layer 1)
  to ``last`` (after layer L) — an assumption standing for a trained model's entropy statistics; the
  request exits at the first evaluated exit with ``e_k < threshold`` (EdgeBERT's rule), else after L;
- ``per_request``: the exit layer of every request, given.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Sequence

import numpy as np

from simulator.errors import SimulationConfigError

_KEY = re.compile(r"^(?P<task>.+)@exit(?P<k>\d+)$")


def exit_prefixes(trace) -> tuple[int, dict[int, int]]:
    """``(L, {k: ops run by a request exiting after layer k})`` of a trace with exit heads (k = L: all)."""
    info = trace.meta.get("early_exit")
    if not info:
        raise SimulationConfigError(f"early_exit: the trace of task {trace.task!r} has no exit heads; expected "
                                    "a model traced with exits (study early_exit.exits)")
    L = int(info["layers"])
    prefixes = {int(k): int(n) for k, n in info["exits"]}
    prefixes[L] = len(trace.ops)
    return L, prefixes


def subset_arrays(ta, n: int):
    """The first ``n`` ops of TaskArrays ``ta`` (a new TaskArrays sharing nothing mutable with it)."""
    per_op = {}
    for f in dataclasses.fields(ta):
        value = getattr(ta, f.name)
        if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == ta.n_ops:
            per_op[f.name] = value[:n].copy()
    return dataclasses.replace(ta, **per_op, traffic=list(ta.traffic[:n]))


def variant_arrays(prepared, key: str):
    """The TaskArrays of request variant ``key`` (``<task>@exit<k>``), made once from the task's arrays
    and cached in ``prepared.variants``. Raises SimulationConfigError for an unknown task or exit."""
    found = prepared.variants.get(key)
    if found is not None:
        return found
    m = _KEY.match(key)
    if m is None or m["task"] not in prepared.tasks:
        raise SimulationConfigError(f"scenario.tasks: {key!r} is not a task of the prepared workload; expected "
                                    f"one of {', '.join(prepared.tasks)}")
    task, k = m["task"], int(m["k"])
    L, prefixes = exit_prefixes(prepared.workload.traces[task])
    if k not in prefixes:
        raise SimulationConfigError(f"early_exit: a request of {task} exits after layer {k}; expected one of the "
                                    f"exits {', '.join(map(str, sorted(prefixes)))}")
    found = prepared.variants[key] = subset_arrays(prepared.tasks[task], prefixes[k])
    return found


def entropy_means(first: float, last: float, layers: int) -> np.ndarray:
    """Mean entropy (nats) of the exit after each layer 1..L, falling geometrically from ``first`` to
    ``last`` (assumption: deeper exits are more confident)."""
    if layers == 1:
        return np.array([float(last)])
    return float(first) * (float(last) / float(first)) ** (np.arange(layers) / (layers - 1))


def draw_exit_layers(spec: Mapping[str, Any], n: int, layers: int, exits: Sequence[int], seed: int) -> list[int]:
    """Exit layer (1..L) of each of ``n`` requests from ``spec`` (one of ``table``, ``entropy``,
    ``per_request``; see the module docstring), seeded by ``seed``. ``exits``: the layers with exit heads
    (L, the model's own head, is always possible)."""
    exits = sorted(set(int(k) for k in exits) | {int(layers)})
    rng = np.random.default_rng(seed)
    if "per_request" in spec:
        values = [int(v) for v in spec["per_request"]]
        if len(values) != n:
            raise SimulationConfigError(f"early_exit.per_request: {len(values)} exit layers for {n} requests; "
                                        "expected one per request")
        bad = [v for v in values if v not in exits]
        if bad:
            raise SimulationConfigError(f"early_exit.per_request: exit layer {bad[0]}; expected one of "
                                        f"{', '.join(map(str, exits))}")
        return values
    if "table" in spec:
        table = {int(k): float(w) for k, w in spec["table"].items()}
        bad = [k for k in table if k not in exits]
        if bad:
            raise SimulationConfigError(f"early_exit.table: exit layer {bad[0]}; expected one of "
                                        f"{', '.join(map(str, exits))}")
        ks = sorted(table)
        w = np.array([table[k] for k in ks])
        if w.sum() <= 0:
            raise SimulationConfigError("early_exit.table: the weights sum to 0; expected positive weights")
        return [int(ks[i]) for i in rng.choice(len(ks), size=n, p=w / w.sum())]
    e = spec["entropy"]
    means = entropy_means(e["first"], e["last"], layers)
    z = rng.standard_normal(n)
    entropy = means[None, :] * np.exp(float(e.get("spread", 0.5)) * z[:, None])   # (n, L)
    chosen = []
    for row in entropy:
        chosen.append(next((k for k in exits if row[k - 1] < float(e["threshold"])), int(layers)))
    return chosen



def request_keys(stream) -> dict:
    """``{"request_keys": [Request.key, ...]}`` for a run's meta when some request exits early (so results
    can give each request its variant's lower bound); {} otherwise."""
    requests = list(stream)
    if not any(r.exit_layer is not None for r in requests):
        return {}
    return {"request_keys": [r.key for r in requests]}
