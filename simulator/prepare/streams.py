"""Request streams: when requests arrive (seconds) and which task each one asks for.

Three generators, all reproducible: :func:`fixed` (an explicit task sequence at a fixed period),
:func:`round_robin` (cycle through the tasks) and :func:`poisson` (exponential inter-arrival times, a task
mix and a probability of switching task between consecutive requests, seeded).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from simulator.errors import SimulationConfigError


#: Most requests a stream (and a study) may have. A replayed run holds ~60 bytes per request in numpy
#: arrays (requests table, compact ledger) plus the stream's Request objects (~250 bytes each): ten million
#: requests need ~3 GB, what a laptop can spare. Above it a study is refused with a one-line error.
MAX_REQUESTS = 10_000_000


def check_count(n, field_path: str = "scenario.requests") -> int:
    """``n`` as an int if it is a whole number in [1, :data:`MAX_REQUESTS`], else SimulationConfigError."""
    if not (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 1 <= n <= MAX_REQUESTS):
        raise SimulationConfigError(f"{field_path}: got {n!r}; expected an integer from 1 to {MAX_REQUESTS:,} "
                                    "(the most requests that fit in memory)")
    return int(n)


@dataclass(frozen=True)
class Request:
    """One inference request: ``id`` (0, 1, ...), ``arrival_s`` (s), ``task`` (a task name) and the
    ``operating_point`` it runs at (a name from the platform; ``None`` = the platform's default).

    ``exit_layer`` (early exit, :mod:`simulator.prepare.early_exit`): the request runs only the ops up to its
    exit after that many layers (None: the whole trace). ``transition_s``/``transition_J``: a DVFS
    transition (regulator and PLL settling, s and J) paid before the request's ops, set by
    :mod:`simulator.study.dvfs` when the operating point changes."""
    id: int
    arrival_s: float
    task: str
    operating_point: str | None = None
    exit_layer: int | None = None
    transition_s: float = 0.0
    transition_J: float = 0.0

    @property
    def key(self) -> str:
        """The per-op arrays this request runs (``Prepared.arrays``): its task, or ``<task>@exit<k>``."""
        return self.task if self.exit_layer is None else f"{self.task}@exit{self.exit_layer}"


@dataclass(frozen=True)
class RequestStream:
    """An ordered list of :class:`Request` (arrival times non-decreasing, ids 0..n-1)."""
    requests: tuple[Request, ...]
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        reqs = tuple(self.requests)
        object.__setattr__(self, "requests", reqs)
        if not reqs:
            raise SimulationConfigError("scenario.requests: the stream is empty; expected at least one request")
        check_count(len(reqs))
        for i, r in enumerate(reqs):
            if r.id != i:
                raise SimulationConfigError(
                    f"scenario.requests[{i}].id: got {r.id}; expected {i} (ids are 0..n-1 in order)")
            if not (np.isfinite(r.arrival_s) and r.arrival_s >= 0):
                raise SimulationConfigError(
                    f"scenario.requests[{i}].arrival_s: got {r.arrival_s}; expected a finite time >= 0 s")
            if i and r.arrival_s < reqs[i - 1].arrival_s:
                raise SimulationConfigError(
                    f"scenario.requests[{i}].arrival_s: got {r.arrival_s} s, before the previous request; "
                    "expected non-decreasing arrival times")

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self):
        return iter(self.requests)

    @property
    def tasks(self) -> list[str]:
        """The distinct tasks of the stream, in order of first appearance."""
        return list(dict.fromkeys(r.task for r in self.requests))

    @property
    def arrivals_s(self) -> np.ndarray:
        """Arrival times (s) as a float array."""
        return np.array([r.arrival_s for r in self.requests], dtype=float)

    def switches(self) -> int:
        """How many consecutive pairs of requests ask for different tasks."""
        return sum(a.task != b.task for a, b in zip(self.requests, self.requests[1:]))

    def with_operating_point(self, name: str | None) -> "RequestStream":
        """The same stream with every request at operating point ``name``."""
        return RequestStream(tuple(replace(r, operating_point=name) for r in self.requests), dict(self.meta))

    def with_fields(self, **columns: Sequence) -> "RequestStream":
        """The same stream with per-request values of :class:`Request` fields, one sequence per field
        (e.g. ``exit_layer=[12, 4, ...]``, ``operating_point=[...]``); each as long as the stream."""
        for name, values in columns.items():
            if len(values) != len(self.requests):
                raise SimulationConfigError(f"scenario.{name}: {len(values)} values for {len(self.requests)} "
                                            "requests; expected one per request")
        return RequestStream(tuple(replace(r, **{k: v[i] for k, v in columns.items()})
                                   for i, r in enumerate(self.requests)), dict(self.meta))

    def shifted(self, after: int, delta_s: float) -> "RequestStream":
        """The same stream with every request from index ``after`` on arriving ``delta_s`` seconds later."""
        return RequestStream(tuple(replace(r, arrival_s=r.arrival_s + (delta_s if r.id >= after else 0.0))
                                   for r in self.requests), dict(self.meta))


def _check_tasks(tasks: Sequence[str], field_path: str) -> list[str]:
    tasks = list(tasks)
    if not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise SimulationConfigError(f"{field_path}: got {tasks!r}; expected a non-empty list of task names")
    return tasks


def _check_positive(value: float, field_path: str, unit: str) -> float:
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
        raise SimulationConfigError(f"{field_path}: got {value!r}; expected a finite number >= 0 {unit}")
    return float(value)


def fixed(tasks: Iterable[str], period_s: float, *, start_s: float = 0.0) -> RequestStream:
    """One request per entry of ``tasks``, in that order, every ``period_s`` seconds from ``start_s``."""
    tasks = _check_tasks(list(tasks), "scenario.tasks")
    period_s = _check_positive(period_s, "scenario.period_s", "s")
    return RequestStream(tuple(Request(i, start_s + i * period_s, t) for i, t in enumerate(tasks)),
                         {"kind": "fixed", "period_s": period_s})


def round_robin(tasks: Sequence[str], n: int, period_s: float, *, start_s: float = 0.0) -> RequestStream:
    """``n`` requests cycling through ``tasks`` (t0, t1, ..., t0, ...), one every ``period_s`` seconds."""
    tasks = _check_tasks(tasks, "scenario.tasks")
    n = check_count(n)
    stream = fixed([tasks[i % len(tasks)] for i in range(int(n))], period_s, start_s=start_s)
    return RequestStream(stream.requests, {"kind": "round_robin", "period_s": float(period_s)})


def poisson(task_mix: dict[str, float], n: int, rate_hz: float, switch_prob: float, seed: int,
            *, start_s: float = 0.0) -> RequestStream:
    """``n`` requests with exponential inter-arrival times of mean ``1/rate_hz`` (s), seeded by ``seed``.

    The first task is drawn from ``task_mix`` (weights, normalised). Each later request keeps the previous
    task with probability ``1 - switch_prob``; otherwise it switches to a *different* task drawn from the mix
    restricted to the other tasks. With one task, ``switch_prob`` has no effect. The first arrival is at
    ``start_s`` plus one inter-arrival time.
    """
    if not isinstance(task_mix, dict) or not task_mix:
        raise SimulationConfigError(f"scenario.task_mix: got {task_mix!r}; expected a mapping task -> weight")
    tasks = _check_tasks(list(task_mix), "scenario.task_mix")
    weights = np.array([task_mix[t] for t in tasks], dtype=float)
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
        raise SimulationConfigError(
            f"scenario.task_mix: got weights {weights.tolist()}; expected non-negative weights with a positive sum")
    n = check_count(n)
    if not (isinstance(rate_hz, (int, float)) and np.isfinite(rate_hz) and rate_hz > 0):
        raise SimulationConfigError(f"scenario.rate_hz: got {rate_hz!r}; expected a finite rate > 0 Hz")
    if not (isinstance(switch_prob, (int, float)) and 0.0 <= switch_prob <= 1.0):
        raise SimulationConfigError(f"scenario.switch_prob: got {switch_prob!r}; expected a probability in [0, 1]")
    rng = np.random.default_rng(seed)
    arrivals = start_s + np.cumsum(rng.exponential(1.0 / rate_hz, size=int(n)))
    probs = weights / weights.sum()
    current = int(rng.choice(len(tasks), p=probs))
    picks = [current]
    for _ in range(int(n) - 1):
        others = probs.copy()
        others[current] = 0.0
        if rng.random() < switch_prob and others.sum() > 0:
            current = int(rng.choice(len(tasks), p=others / others.sum()))
        picks.append(current)
    return RequestStream(tuple(Request(i, float(a), tasks[k]) for i, (a, k) in enumerate(zip(arrivals, picks))),
                         {"kind": "poisson", "rate_hz": float(rate_hz), "switch_prob": float(switch_prob),
                          "seed": seed})
