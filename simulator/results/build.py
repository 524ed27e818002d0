"""How the engine and the analytic evaluator build their :class:`simulator.results.result.Result`: the
ledger rows collected as numpy blocks (:class:`LedgerBuilder`), the per-tensor and per-memory write
records (NVM wear) and :func:`finish`, which assembles the result.

The column lists are the contract of docs/interfaces.md ("Ledger"); they live in
:mod:`simulator.results.ledger`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hw_models.vocabulary import PARAMETER_ROLES
from simulator.results.ledger import LEDGER_COLUMNS, REQUEST_COLUMNS
from simulator.results.result import Result


# ------------------------------------------------------------------------------------------ building
_PHASES = ("fetch", "compute", "store", "prefetch")


class _OpRows:
    """The rows one request of a task at an operating point contributes, with times relative to the
    start of the phase they belong to (so each request only adds its phase start times)."""

    def __init__(self, prepared, ta, oc, pp, v: int, prefetch: bool):
        mems = np.array(prepared.memories, dtype=object)
        buffer = pp.buffer[v]
        parts: list[tuple] = []   # (op index, component, category, energy, bytes, phase, duration)

        def add(mask, comp, cat, energy, nbytes, phase, dur):
            """Rows where ``mask`` (n, M); a staging buffer's traffic belongs to the compute phase. An
            overlapped op's home writes run alongside its reads from the op's start (each home is busy
            for its reads + writes within the op)."""
            i, m = np.nonzero(mask)
            comp_arr = comp[m] if isinstance(comp, np.ndarray) else np.full(len(i), comp, dtype=object)
            phases = np.where(buffer[m], 1, np.where(overlap[i] & (phase == 2), 0, phase))
            parts.append((i, comp_arr, cat, energy[i, m], nbytes[i, m], phases, dur[i, m]))

        R, W = ta.reads, ta.writes
        overlap = oc.overlap[0]
        if prefetch:
            P = oc.param_reads[0]
            read_J = oc.read_J[0] if oc.read_J is not None else pp.read_J[v]   # at the op point
            add(P > 0, mems, "read", P * read_J, P, 3, oc.t_param[0])
            add(R - P > 0, mems, "read", (R - P) * read_J, R - P, 0, oc.t_rest[0])
            reads = ((P, 3, oc.t_param[0]), (R - P, 0, oc.t_rest[0]))
        else:
            add(R > 0, mems, "read", oc.e_read[0], R, 0, oc.t_read[0])
            reads = ((R, 0, oc.t_read[0]),)
        add(W > 0, mems, "write", oc.e_write[0], W, 2, oc.t_write[0])
        for k, mem in enumerate(prepared.memories):
            for link in prepared.link_paths[mem]:
                per_byte = pp.link_J[v, pp.links.index(link)]
                for nbytes, phase, dur in (*reads, (W, 2, oc.t_write[0])):
                    col = np.zeros_like(nbytes)
                    col[:, k] = nbytes[:, k]
                    add(col > 0, link, "transfer", col * per_byte, col, phase, dur)
        n = ta.n_ops
        units = np.array(pp.units, dtype=object)
        idx = np.arange(n)
        e_unit = oc.e_unit[0]                                         # (n, U)
        self.main = sum(len(p[0]) for p in parts)                     # first row of the main compute rows
        parts.append((idx, units[ta.unit], "compute", e_unit[idx, ta.unit], np.zeros(n), 1, oc.t_compute[0]))
        # other units' share of an op (a MAC op's bias adds): their energy, but no time of their own (the
        # cost model times an op by its unit's cycles), so they are not booked busy for it
        for u in range(len(units)):
            extra = (ta.unit != u) & (e_unit[:, u] > 0)
            if extra.any():
                parts.append((idx[extra], np.full(int(extra.sum()), units[u], dtype=object), "compute",
                              e_unit[extra, u], np.zeros(int(extra.sum())), 1, np.zeros(int(extra.sum()))))
        self.op = np.concatenate([p[0] for p in parts]).astype(int)
        self.component = np.concatenate([p[1] for p in parts])
        self.category = np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts])
        self.energy = np.concatenate([p[3] for p in parts]).astype(float)
        self.bytes = np.concatenate([p[4] for p in parts]).astype(float)
        self.phase = np.concatenate([np.broadcast_to(p[5], len(p[0])) for p in parts]).astype(int)
        self.duration = np.concatenate([p[6] for p in parts]).astype(float)
        self.op_ids, self.modules, self.layers = ta.op_ids[self.op], ta.modules[self.op], ta.layers[self.op]


class LedgerBuilder:
    """Collects ledger rows as numpy column blocks and makes one DataFrame at the end (fast: no dict per
    event). Used identically by the engine and the analytic evaluator."""

    def __init__(self, prepared, pp, v: int = 0):
        self.prepared, self.pp, self.v = prepared, pp, v
        self.blocks: list[dict[str, np.ndarray]] = []
        self._templates: dict[tuple, _OpRows] = {}

    def _block(self, **cols) -> None:
        n = len(cols["energy_J"])
        for key, default in (("op", -1), ("module", ""), ("layer", "")):
            cols.setdefault(key, np.full(n, default, dtype=object if isinstance(default, str) else int))
        for key in ("request", "task", "component", "category"):
            if not isinstance(cols[key], np.ndarray):
                cols[key] = np.full(n, cols[key], dtype=object if isinstance(cols[key], str) else int)
        self.blocks.append(cols)

    def ops(self, request: int, task: str, op_point: int, oc, phase_t0: np.ndarray, prefetch: bool,
            key: str | None = None, units: np.ndarray | None = None) -> None:
        """Rows of one request's ops. ``phase_t0``: (4, n) start times (s) of each op's fetch, compute,
        store and prefetch phases (the prefetch row is ignored without prefetch). ``key``: the request's
        variant (``Request.key``, e.g. an early exit) when it runs other arrays than its task's.
        ``units``: (n,) index of the unit each op ran on, when the engine chose one of a pool of equal
        units (default: the pool's first, ``TaskArrays.unit``)."""
        arrays = key or task
        tkey = (arrays, op_point, prefetch)
        tpl = self._templates.get(tkey)
        if tpl is None:
            tpl = self._templates[tkey] = _OpRows(self.prepared, self.prepared.arrays(arrays), oc, self.pp,
                                                  self.v, prefetch)
        component = tpl.component
        if units is not None:
            ta = self.prepared.arrays(arrays)
            moved = np.flatnonzero(units != ta.unit)
            if len(moved):
                component = component.copy()
                component[tpl.main + moved] = np.array(self.pp.units, dtype=object)[units[moved]]
        start = phase_t0[tpl.phase, tpl.op]
        self._block(request=request, task=task, op=tpl.op_ids, module=tpl.modules, layer=tpl.layers,
                    component=component, category=tpl.category, energy_J=tpl.energy, bytes=tpl.bytes,
                    start_s=start, end_s=start + tpl.duration)

    def switch(self, request: int, task: str, sc, t0: np.ndarray) -> None:
        """Rows of a task switch, each copy starting at ``t0`` (s, one per copy): its read in the backing
        store (category ``read``), its write into the home (``switch_load``) and its link transfers."""
        v, pp = self.v, self.pp
        for k, (src, dst, b) in enumerate(sc.pairs):
            s, e = t0[k], t0[k] + sc.t[v, k]
            comps = [src, dst] + list(sc.links[k])
            energy = [sc.e_src[v, k], sc.e_dst[v, k]] + [b * pp.link_J[v, pp.links.index(n)] for n in sc.links[k]]
            cats = ["read", "switch_load"] + ["transfer"] * len(sc.links[k])
            self._block(request=request, task=task, component=np.array(comps, dtype=object),
                        category=np.array(cats, dtype=object), energy_J=np.array(energy, dtype=float),
                        bytes=np.full(len(comps), float(b)), start_s=np.full(len(comps), s),
                        end_s=np.full(len(comps), e), module=np.full(len(comps), "task switch", dtype=object))

    def wakeup(self, request: int, task: str, t0: float, t1: float, mask=None) -> None:
        """Rows of waking, before a request (s), the memories and compute units that slept in the idle gap
        (``mask``: (M + U,) bool from :func:`simulator.cost.power_states.wake_cost`), each with its
        wake-up energy (J)."""
        comps = list(self.prepared.memories) + list(self.pp.units)
        idx = [k for k in range(len(comps)) if mask[k]]
        mems = [comps[k] for k in idx]
        energy = np.array([self.pp.wake_Jc[self.v, k] for k in idx], dtype=float)
        n = len(mems)
        self._block(request=request, task=task, component=np.array(mems, dtype=object), category="wakeup",
                    energy_J=energy, bytes=np.zeros(n), start_s=np.full(n, t0), end_s=np.full(n, t1))

    def transition(self, request: int, task: str, t0: float, t1: float, energy_J: float) -> None:
        """The row of a DVFS transition before a request (regulator and PLL settling, s and J): component
        :data:`simulator.results.REGULATOR`, category ``wakeup``."""
        self._block(request=request, task=task, component=np.array(["dvfs_regulator"], dtype=object),
                    category="wakeup", energy_J=np.array([energy_J]), bytes=np.zeros(1),
                    start_s=np.full(1, t0), end_s=np.full(1, t1))

    def leakage(self, timeline, requests: list[tuple[int, str, float, float]]) -> None:
        """Leakage rows: per request and component while it is served (``requests``: id, task, start,
        end), and per idle interval and component (request -1). DRAM's refresh share is ``refresh``."""
        pp, v = self.pp, self.v
        comps = np.array(list(self.prepared.memories) + list(pp.units), dtype=object)
        C, M = len(comps), len(self.prepared.memories)
        refresh_share = np.concatenate([np.divide(pp.refresh_W[v], pp.leak_W[v], out=np.zeros(M),
                                                  where=pp.leak_W[v] > 0), np.zeros(C - M)])
        for (rid, task, s, e), energy in zip(requests, timeline.busy_J):
            ref = energy * refresh_share
            self._block(request=rid, task=task, component=np.concatenate([comps, comps]),
                        category=np.array(["leakage"] * C + ["refresh"] * C, dtype=object),
                        energy_J=np.concatenate([energy - ref, ref]), bytes=np.zeros(2 * C),
                        start_s=np.full(2 * C, s), end_s=np.full(2 * C, e))
        idle_cat = np.array(["refresh" if (k < M and pp.gated[v, k] and pp.is_dram[v, k]) else "leakage"
                             for k in range(C)], dtype=object)
        for (s, e), energy in zip(timeline.idle, timeline.idle_J):
            self._block(request=-1, task="", component=comps, category=idle_cat, energy_J=energy,
                        bytes=np.zeros(C), start_s=np.full(C, s), end_s=np.full(C, e))

    def columns(self, text: str | None = None) -> dict[str, np.ndarray]:
        """The ledger as numpy columns (:data:`LEDGER_COLUMNS`), rows with no energy and no bytes dropped
        (compute rows are kept: they place the op in time). ``text``: ignored here (text columns are object
        arrays); the engine's builder can return them as pandas Categoricals."""
        if not self.blocks:
            return {c: np.zeros(0, dtype=object if c in _TEXT else float) for c in LEDGER_COLUMNS}
        cols = {c: np.concatenate([b[c] for b in self.blocks]) for c in LEDGER_COLUMNS}
        keep = (cols["energy_J"] != 0) | (cols["bytes"] != 0) | (cols["category"] == "compute")
        out = {c: cols[c][keep] for c in LEDGER_COLUMNS}
        for c in ("request", "op"):
            out[c] = out[c].astype(np.int64)
        for c in ("energy_J", "bytes", "start_s", "end_s"):
            out[c] = out[c].astype(np.float64)
        return out


_TEXT = ("task", "module", "layer", "component", "category")


def _request_writes(prepared, task: str, trace) -> list[tuple]:
    """(key, role, stored size, bytes one request of ``task`` writes) per tensor it writes, key = (memory,
    tensor, owner, task or "" for a parameter): the trace's compulsory writes, each home's share of its
    mapping's extra writes in proportion (:func:`tensor_writes`). Computed once per preparation and task
    (kept in ``prepared.request_writes``, shared like its other per-task caches by the copies a sweep makes
    with another request stream)."""
    cache = getattr(prepared, "request_writes", None)
    if cache is not None and task in cache:
        return cache[task]
    homes = prepared.placement.homes(trace)
    per_tensor: dict[int, float] = {}
    for op in trace.ops:
        for tid, b in trace.write_bytes(op).items():
            per_tensor[tid] = per_tensor.get(tid, 0.0) + float(b)
    compulsory: dict[str, float] = {}
    for tid, b in per_tensor.items():
        compulsory[homes[tid]] = compulsory.get(homes[tid], 0.0) + b
    ta = prepared.tasks.get(task)
    out = []
    for tid, b in per_tensor.items():
        m, t = homes[tid], trace.tensors[tid]
        scale = 1.0
        if ta is not None and compulsory[m] > 0:
            scale = float(ta.writes[:, prepared.memory_index(m)].sum()) / compulsory[m]
        key = (m, t.name, t.owner, "" if t.is_parameter else task)
        out.append((key, t.role, float(t.stored_bytes), b * scale))
    if cache is not None:
        cache[task] = out
    return out


def tensor_writes(prepared, records: list[dict]) -> list[dict]:
    """Bytes written into each placed tensor over the run, per memory (SI: bytes).

    For each request of a task: the bytes its ops write into each tensor (the trace's compulsory writes;
    where a mapping writes a home more than once, e.g. partial-sum spills, each tensor of that home gets
    its share of the extra in proportion to its compulsory bytes, so the tensors of a memory add up to the
    memory's op writes); for each request that switches task: every tensor loaded on a switch to that
    task is rewritten once. Parameters are one tensor each over the run (``task`` ""), run-time tensors
    are per task. Rows: ``memory``, ``tensor``, ``role``, ``owner``, ``task``, ``size_bytes`` (its stored
    size), ``write_bytes`` and ``cell_writes`` = write_bytes / size_bytes (writes each of its cells sees,
    the tensor kept at fixed addresses)."""
    requests: dict[str, int] = {}
    switches: dict[str, int] = {}
    for r in records:
        requests[r["task"]] = requests.get(r["task"], 0) + 1
        switches[r["task"]] = switches.get(r["task"], 0) + int(bool(r["switch"]))
    acc: dict[tuple, list] = {}   # (memory, tensor, owner, task) -> [role, size, bytes]
    workload = prepared.workload
    for task, trace in workload.traces.items():
        n_req = requests.get(task, 0)
        if not n_req:
            continue
        for key, role, size, per_request in _request_writes(prepared, task, trace):
            row = acc.setdefault(key, [role, size, 0.0])
            row[2] += per_request * n_req
    # switch loads: a memory's switch region holds one task's set at a time, so every load into it
    # (whichever task) rewrites the same cells
    table = getattr(prepared.placement, "table", None)
    loaded: dict[tuple, int] = {}
    region_loads: dict[str, int] = {}
    if table is not None and len(table):
        rows = table[table["loaded_on_switch"]]
        for m in set(rows["memory"]):
            region_loads[m] = sum(switches.get(task, 0) for task in set(rows[rows["memory"] == m]["task"]))
        for row in rows.itertuples():
            n = switches.get(row.task, 0)
            if n:
                key = (row.memory, row.tensor, row.owner, "")
                acc.setdefault(key, [row.role, float(row.bytes), 0.0])[2] += n * float(row.bytes)
                loaded[key] = n
    out = []
    for key, (role, size, nbytes) in sorted(acc.items()):
        m, name, owner, task = key
        if nbytes > 0:
            own = nbytes - loaded.get(key, 0) * size          # bytes written by ops
            cells = (own / size if size > 0 else 0.0) + (region_loads.get(m, 0) if key in loaded else 0)
            out.append({"memory": m, "tensor": name, "role": role, "owner": owner, "task": task,
                        "size_bytes": size, "write_bytes": nbytes, "cell_writes": cells})
    return out


def program_writes(prepared, m: str) -> dict[str, float]:
    """A compute-in-memory crossbar's cells (memory ``m`` with ``in_unit``): its weights are programmed once,
    before the run: ``program_bytes``, ``program_energy_J`` and ``program_cell_writes`` (NVM wear that is
    not a rate). Empty for any other memory."""
    mem = prepared.platform.memories[m]
    if not getattr(mem, "in_unit", None):
        return {}
    table = prepared.placement.table
    params = table[(table["memory"] == m) & table["role"].isin(PARAMETER_ROLES)]
    program = float(params.drop_duplicates(["owner", "tensor"])["bytes"].sum())
    return {"program_bytes": program, "program_energy_J": mem.write_energy(program),
            "program_cell_writes": 1.0 if program > 0 else 0.0}


def _memory_writes(prepared, cols: dict[str, np.ndarray], tensors: list[dict]) -> dict[str, dict[str, float]]:
    """Per memory: ``bytes`` written (op writes and switch loads, from the ledger) and ``cell_writes``,
    the writes the most-written cells see over the run (no wear levelling): the largest of (a) any tensor's
    own cell writes (:func:`tensor_writes`: parameters written at inference, e.g. ProSG's updates, adapters
    loaded on switches, state) and (b) the run-time tensors' bytes over the region they cycle through (the
    run-time peak, or a staging buffer's capacity), since liveness placement reuses that region.
    A compute-in-memory crossbar's cells also get ``program_bytes`` / ``program_energy_J`` /
    ``program_cell_writes``: programming its weights once before the run (NVM wear that is not a rate)."""
    out = {}
    for m in prepared.memories:
        here = cols["component"] == m
        loads = here & (cols["category"] == "switch_load")
        op_bytes = float(cols["bytes"][here & (cols["category"] == "write")].sum())
        mem = prepared.platform.memories[m]
        mine = [t for t in tensors if t["memory"] == m]
        runtime_bytes = sum(t["write_bytes"] for t in mine if t["task"])
        region = prepared.placement.runtime_peak.get(m, 0.0) or (mem.capacity_bytes if mem.is_buffer else 0.0)
        if mem.is_buffer:
            runtime_bytes = op_bytes
        cycled = runtime_bytes / region if region > 0 else 0.0
        out[m] = {"bytes": op_bytes + float(cols["bytes"][loads].sum()),
                  "cell_writes": max([cycled] + [t["cell_writes"] for t in mine])}
        out[m].update(program_writes(prepared, m))
    return out


def finish(evaluator: str, workload, prepared, tables, builder: LedgerBuilder, records: list[dict], timeline,
           dynamic_J: float, meta: dict) -> Result:
    """Assemble the :class:`Result` of ``evaluator`` ("engine" or "analytic") for ``workload`` (the one run,
    whose traces ``prepared`` holds; its stream may differ): the ledger from ``builder``, the
    requests table from ``records`` (dicts with the REQUEST_COLUMNS except latency/service/energy), and
    meta. ``dynamic_J`` is the run's non-leakage energy accumulated by the evaluator itself, so
    ``meta["total_energy_J"]`` is an independent check on the ledger's sum."""
    cols = builder.columns()
    ids = np.array([r["request"] for r in records], dtype=np.int64)
    mine = cols["request"] >= 0
    per_request = np.bincount(cols["request"][mine], weights=cols["energy_J"][mine],
                              minlength=int(ids.max()) + 1 if len(ids) else 0)
    col = {c: [r[c] for r in records] for c in ("task", "arrival_s", "start_s", "end_s", "switch",
                                                 "operating_point")}
    arrival, start, end = (np.array(col[c], dtype=float) for c in ("arrival_s", "start_s", "end_s"))
    req = pd.DataFrame({"request": ids, "task": np.array(col["task"], dtype=object), "arrival_s": arrival,
                        "start_s": start, "end_s": end, "latency_s": end - arrival,
                        "switch": np.array(col["switch"], dtype=bool),
                        "operating_point": np.array(col["operating_point"], dtype=object),
                        "service_s": end - start,
                        "energy_J": per_request[ids] if len(ids) else np.zeros(0)}, columns=list(REQUEST_COLUMNS))
    tensors = tensor_writes(prepared, records)
    memory_writes = _memory_writes(prepared, cols, tensors)
    first = float(arrival.min()) if len(ids) else 0.0
    out_meta = {"evaluator": evaluator, "total_energy_J": dynamic_J + timeline.total,
                "leakage_energy_J": timeline.total, "makespan_s": float(end.max()) - first if len(ids) else 0.0,
                "start_s": first, "memory_writes": memory_writes, "tensor_writes": tensors,
                "tasks": list(prepared.tasks), **meta}
    return Result(ledger=pd.DataFrame(cols, copy=False), requests=req, placement=prepared.placement,
                  platform=tables.platform, workload=workload, meta=out_meta)
