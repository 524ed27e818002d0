"""Reports of a study: the comparison table (terminal and Markdown), ``summary.json`` and ``report.md``.

This is an edge of hetsim: numbers arrive in SI units (J, s, m², W) from :mod:`simulator.results.result` and
leave here in the units a reader expects (µJ, ms, mm², mW, %), with the unit in every column header.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

#: Component groups of the comparison table, in column order, with their headers.
GROUPS = (("compute", "compute"), ("sram", "SRAM"), ("nvm", "NVM"), ("dram", "DRAM"),
          ("interconnect", "links"))


#: Display units of energy, smallest first: (symbol, joules per unit).
ENERGY_UNITS = (("nJ", 1e-9), ("µJ", 1e-6), ("mJ", 1e-3), ("J", 1.0))


def energy_unit(values_J: Iterable[float]) -> tuple[str, float]:
    """The display unit (symbol, J per unit) in which the largest of ``values_J`` (J) reads below 1000."""
    finite = [abs(v) for v in values_J if v is not None and math.isfinite(v)]
    top = max(finite, default=0.0)
    for symbol, scale in ENERGY_UNITS:
        if top < 1000 * scale:
            return symbol, scale
    return ENERGY_UNITS[-1]


def format_duration(seconds: float) -> str:
    """A readable duration for a time in s: ``"3.2 years"``, ``"41 days"``, ``"5 h"``, ``"inf"``."""
    if seconds is None or not math.isfinite(seconds):
        return "inf"
    for unit, size in (("years", 3.15576e7), ("days", 86400.0), ("h", 3600.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def summary_table(results: dict[str, Any]) -> pd.DataFrame:
    """One row per platform with every scalar of :meth:`Result.summary` (SI units, unit in each name)."""
    rows = []
    for key, result in results.items():
        scalars = {k: v for k, v in result.summary().items() if not isinstance(v, dict)}
        rows.append({**scalars, "platform": key, "mode": result.meta.get("mode", ""),
                     "method": result.meta.get("method", "")})
    table = pd.DataFrame.from_records(rows)
    first = ["platform", "mode", "method"]
    return table[first + [c for c in table.columns if c not in first]]


def write_summary_json(results: dict[str, Any], path: Path) -> Path:
    """``summary.json``: ``{platform: {"summary": ..., "meta": ...}}`` (SI; infinite values as null)."""
    # each result's document is serialised once (its own summary.json holds the same text), then nested
    # one level deeper: the same text as json.dumps({key: document}, indent=2)
    parts = [f"  {json.dumps(str(key))}: " + r.summary_json().replace("\n", "\n  ") for key, r in results.items()]
    path.write_text(("{\n" + ",\n".join(parts) + "\n}" if parts else "{}") + "\n")
    return path


def method_labels(results: dict[str, Any]) -> dict[str, str]:
    """``{key: method}`` (``meta["method"]``: the adapter spec, ``per-task model``, ...) when the results
    compare more than one method; {} otherwise (a column that would say the same on every row)."""
    methods = {key: str(r.meta.get("method") or "") for key, r in results.items()}
    return methods if len(set(methods.values())) > 1 else {}


def comparison_table(results: dict[str, Any]) -> pd.DataFrame:
    """The headline comparison in display units: energy per inference in total and by component group
    (in the unit of :func:`energy_unit`, named in the headers), leakage share (%), latency p50/p99 (ms),
    average power (mW), area (mm²), the ratio to the lower bound and the shortest NVM lifetime at this
    run's write rate."""
    summaries = {key: result.summary() for key, result in results.items()}
    unit, scale = energy_unit(s["energy_per_inference_J"] for s in summaries.values())
    methods = method_labels(results)
    rows = []
    for key, s in summaries.items():
        row = {"platform": key, **({"method": methods[key]} if methods else {}),
               f"energy/inf ({unit})": s["energy_per_inference_J"] / scale}
        for kind, header in GROUPS:
            row[f"{header} ({unit})"] = s[f"{kind}_energy_per_inference_J"] / scale
        row.update({
            "leakage (%)": 100.0 * s["leakage_share"],
            "p50 (ms)": s["latency_p50_s"] * 1e3,
            "p99 (ms)": s["latency_p99_s"] * 1e3,
            "avg power (mW)": s["average_power_W"] * 1e3,
            "area (mm²)": s["area_m2"] * 1e6,
            "× bound": s["ratio_to_lower_bound"],
            "NVM lifetime": format_duration(s["nvm_lifetime_s"]) if s["nvm_write_bytes"] > 0 else "-",
            "load": _load_cell(s),
        })
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def overload_lines(results: dict[str, Any]) -> list[str]:
    """One warning line per platform whose offered load exceeds its service rate (empty when none)."""
    lines = []
    for key, result in results.items():
        s = result.summary()
        if s.get("overloaded"):
            lines.append(f"WARNING: {key} is overloaded: requests arrive at {s['arrival_rate_Hz']:.3g} Hz "
                         f"but it serves at most {s['arrival_rate_Hz'] / s['offered_utilisation']:.3g} per s "
                         f"(load {100 * s['offered_utilisation']:.0f} %); the queue grows by "
                         f"{s['queue_growth']:.2f} s of waiting per s, so its latencies grow with the run's "
                         f"length and are not a steady state.")
    return lines + ([""] if lines else [])


def _load_cell(s: dict) -> str:
    """Offered utilisation in %, and OVERLOADED when requests arrive faster than they are served (the
    latencies then grow with the run's length: they are not a steady state)."""
    rho = s.get("offered_utilisation", float("nan"))
    if not isinstance(rho, float) or not math.isfinite(rho):
        return "-"
    return f"{100 * rho:.0f} % OVERLOADED" if s.get("overloaded") else f"{100 * rho:.0f} %"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.3g}" if abs(value) < 1e3 else f"{value:,.0f}"
    return str(value)


def format_text(table: pd.DataFrame) -> str:
    """A plain fixed-width rendering of ``table`` for the terminal (numbers to 3 significant digits)."""
    cells = [[str(c) for c in table.columns]] + [[_cell(v) for v in row] for row in table.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table.columns))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(table: pd.DataFrame) -> str:
    """``table`` as a GitHub Markdown table (numbers to 3 significant digits, numeric columns right-aligned)."""
    head = "| " + " | ".join(str(c) for c in table.columns) + " |"
    align = "| " + " | ".join("---:" if pd.api.types.is_numeric_dtype(table[c]) else "---"
                              for c in table.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, align, *body])


def _is_bottleneck(adapter: str | None) -> bool:
    """Whether ``adapter`` is a module-inserting kind (houlsby, pfeiffer, mixture), the kinds that can have
    one adapter per repetition of ALBERT's shared layer (LoRA adapts the shared weights themselves)."""
    return bool(adapter) and str(adapter).split(":")[0].strip().lower() in ("houlsby", "pfeiffer", "mixture")


def power_text(watts: float) -> str:
    """A power in W, mW or µW with at most three digits before the point (``"1.02 W"``, not ``1e+03 mW``)."""
    for unit, scale in (("W", 1.0), ("mW", 1e-3), ("µW", 1e-6)):
        if abs(watts) >= scale:
            return f"{watts / scale:.3g} {unit}"
    return f"{watts / 1e-9:.3g} nW"


def _memory_lines(result: Any) -> Iterable[str]:
    mem = result.per_memory()
    memories = getattr(result.platform, "memories", {}) or {}
    staging = [bool(getattr(memories.get(m), "is_buffer", False)) for m in mem["memory"]]
    # a staging buffer holds no placed tensor: data passes through it (see read/written), so its resident
    # peak would read 0; it is marked instead
    resident = [("staging" if buf else f"{b / 1024:.4g}") for b, buf in zip(mem["peak_occupancy_bytes"], staging)]
    view = pd.DataFrame({
        "memory": mem["memory"], "technology": mem["technology"], "kind": mem["kind"],
        "figures from": [getattr(memories.get(m), "source", "") or "-" for m in mem["memory"]],
        "capacity (KiB)": mem["capacity_bytes"] / 1024, "placed peak (KiB)": resident,
        "read (MB)": mem["read_bytes"] / 1e6, "written (MB)": mem["write_bytes"] / 1e6,
        "dynamic (mJ)": mem["dynamic_energy_J"] * 1e3, "leakage (mJ)": mem["leakage_energy_J"] * 1e3,
    })
    yield format_markdown(view)


def _task_lines(result: Any) -> Iterable[str]:
    t = result.per_task()
    view = pd.DataFrame({"task": t["task"], "requests": t["requests"], "switches": t["switches"],
                         "energy/request (mJ)": t["energy_per_request_J"] * 1e3,
                         "p50 (ms)": t["latency_p50_s"] * 1e3, "p99 (ms)": t["latency_p99_s"] * 1e3})
    yield format_markdown(view)


def unknown_ops(results: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``{task: {aten op name: count}}`` of ops the tracer recorded as ``unknown`` in the traces the runs
    simulated (costed conservatively by :func:`simulator.traffic.unknown_op_elements`); empty when none."""
    found: dict[str, dict[str, int]] = {}
    for result in results.values():
        workload = getattr(result, "workload", None)
        for task, trace in (getattr(workload, "traces", None) or {}).items():
            names = trace.unknown_ops() if hasattr(trace, "unknown_ops") else {}
            if names:
                found.setdefault(task, {}).update(names)
    return found


def _unknown_lines(results: dict[str, Any]) -> list[str]:
    found = unknown_ops(results)
    if not found:
        return []
    rows = [(task, name, n) for task, names in found.items() for name, n in names.items()]
    return ["## Ops the tracer could not classify", "",
            "These ops have no counting rule (kind `unknown`): their bytes are exact, their arithmetic is not. "
            "They are costed conservatively, one vector-unit operation per element read and per element "
            "written; a gemm hidden in one of them is still undercounted.", "",
            format_markdown(pd.DataFrame(rows, columns=["task", "aten op", "count per request"])), ""]


def effective_adapter(config: Any) -> str | None:
    """The adapter a study's requests run with: its ``adapter``, except that a generation study ignores the
    study-wide default (an encoder's) and takes only an adapter it names itself (``prosg:R`` or another)."""
    if getattr(config, "generation", None) is None:
        return config.adapter
    named = "adapter" in getattr(config, "model_fields_set", set()) or str(config.adapter).startswith("prosg")
    return config.adapter if named else None


def workload_summary(config: Any, *, markdown: bool = False) -> str:
    """One line saying what each request runs: the model, its adapter and the sequence length, or for a
    generation study the prompt, new tokens, beams and trie (its ``seq_len`` is not used)."""
    q = "`" if markdown else ""
    adapter = effective_adapter(config)
    g = getattr(config, "generation", None)
    if g is None:
        rep = " (one per repetition)" if config.per_repetition and _is_bottleneck(adapter) else ""
        return f"model: {q}{config.model}{q}, adapter {q}{adapter}{q}{rep}, sequence length {config.seq_len}"
    trie = f", constrained to a trie of {g.items} items" if g.constrained == "trie" else ""
    return (f"model: {q}{config.model}{q}, adapter {q}{adapter or 'none'}{q}, generating: prompt {g.prompt_len} "
            f"tokens, {g.new_tokens} new tokens, {g.beams} beam{'s' if g.beams != 1 else ''}{trie}")


def write_report(results: dict[str, Any], config: Any, path: Path,
                 figures: dict[str, list[Path]] | None = None) -> Path:
    """Write ``report.md``: what was run, the comparison table, the figures (paths relative to the
    report) and, per platform, its memories, its tasks and its NVM wear."""
    figures = figures or {}
    sc = config.scenario
    first = next(iter(results.values()))
    lines = [f"# hetsim study: {config.name}", ""]
    if config.description:
        lines += [config.description.strip(), ""]
    lines += [
        f"- {workload_summary(config, markdown=True)}",
        f"- tasks: {', '.join(config.tasks)}",
        f"- compression: bits {dict(config.compression.bits)}, sparsity {dict(config.compression.sparsity)}",
        f"- scenario: {sc.stream}, {first.n_requests} requests, seed {sc.seed}"
        + (f", mean rate {sc.rate:g} Hz, switch probability {sc.switch_probability:g}" if sc.stream == "poisson"
           else f", period {sc.period * 1e3:g} ms")
        + f"; {int(first.requests['switch'].sum())} task switches"
        + (f"; {sc.max_in_flight} requests in flight at once (contending for memories and units)"
           if sc.max_in_flight > 1 else ""),
        f"- evaluator: {config.evaluator}",
        "",
        "## Comparison",
        "",
        "Energy per inference is all energy of the run (requests, idle leakage, wake-ups, task-switch loads) "
        "divided by the requests; the component columns split it by where it was spent. "
        "'× bound' is the ratio to the lower bound (MACs × cheapest MAC energy + compulsory bytes × "
        "cheapest energy per byte, from simulator.cost.tables). NVM lifetime: endurance over the write rate of "
        "the most-written cells at this run's pace (no wear levelling). Load: arrival rate × mean service "
        "time; OVERLOADED (> 100 %) means requests arrive faster than they are served, so the queue grows "
        "for as long as the run lasts and its latencies are not a steady state.",
        "",
        format_markdown(comparison_table(results)),
        "",
        *overload_lines(results),
        *_unknown_lines(results),
    ]
    titles = {"energy_breakdown": "Energy per inference by component", "timeline": "Timeline",
              "energy_vs_latency_target": "Energy per inference against the latency target"}
    captions = {
        "energy_vs_latency_target": "EdgeBERT's comparison per platform: the model without exit heads, with "
                                    "early exit at a fixed operating point, and with early exit and per-request "
                                    "DVFS; hollow markers are targets some requests miss.",
        "energy_breakdown": "One bar per platform, stacked by memory and compute unit; the hatched part of "
                            "each colour is its leakage (DRAM: and refresh); the black tick is the lower bound.",
        "timeline": "What each compute unit, memory and link does during consecutive requests around the "
                    "first task switch, idle gaps removed. `timeline.perfetto.json` has every op of the "
                    "first requests and a power counter (open it in https://ui.perfetto.dev).",
    }
    for key, paths in figures.items():
        png = next((p for p in paths if p.suffix == ".png"), paths[0] if paths else None)
        if png is not None:
            lines += [f"## {titles.get(key, key)}", "", f"![{titles.get(key, key)}]({png.as_posix()})", "",
                      captions.get(key, ""), ""]
    for key, result in results.items():
        s = result.summary()
        lines += [f"## {key} ({result.meta.get('mode', '')})", "",
                  f"Throughput {s['throughput_rps']:.3g} requests/s, peak power "
                  f"{power_text(s['peak_power_W'])} over {s['power_window_s'] * 1e6:g} µs windows, "
                  f"total energy {s['energy_J'] * 1e3:.4g} mJ over {s['makespan_s']:.3g} s.", "",
                  "### Memories", "", *_memory_lines(result), "", "### Tasks", "", *_task_lines(result), "",
                  *_exit_lines(result), *_dvfs_lines(result), *_token_lines(result)]
        wear = result.nvm_wear()
        by_tensor = result.nvm_wear_tensors()
        if len(by_tensor):
            top = by_tensor.sort_values("cell_writes", ascending=False, kind="stable").head(8)
            lines += ["### NVM wear by tensor (the most-written first)", "", format_markdown(pd.DataFrame({
                "memory": top["memory"], "tensor": top["tensor"], "role": top["role"],
                "written (MB)": top["write_bytes"] / 1e6, "writes per cell": top["cell_writes"],
                "lifetime": [format_duration(v) for v in top["lifetime_s"]]})),
                f"All {len(by_tensor)} tensors: `{key}/nvm_wear_tensors.csv`.", ""]
        if len(wear):
            lines += ["### NVM wear", "", format_markdown(pd.DataFrame({
                "memory": wear["memory"], "written (MB)": wear["write_bytes"] / 1e6,
                "rate (B/s)": wear["write_rate_Bps"],
                "writes per cell": wear["cell_writes"], "endurance": wear["endurance_writes"],
                "lifetime": [format_duration(v) for v in wear["lifetime_s"]],
                "lifetime (ideal wear levelling)": [format_duration(v) for v in wear["lifetime_levelled_s"]]})),
                ""]
        mapping = result.mapping_table()
        if mapping is not None:
            shape = ["m", "k", "n", "loop_order", "tile_m", "tile_k", "tile_n"]
            top = mapping.sort_values("cycles", ascending=False, kind="stable").drop_duplicates(shape).head(5)
            lines += ["### Mapping (the five costliest distinct GEMM mappings, by MAC-array cycles)", "", format_markdown(pd.DataFrame({
                "module": top["module"], "GEMM m×k×n": [f"{a}×{b}×{c}" for a, b, c in zip(top["m"], top["k"], top["n"])],
                "loop order": top["loop_order"],
                "tile m×k×n": [f"{a}×{b}×{c}" for a, b, c in zip(top["tile_m"], top["tile_k"], top["tile_n"])],
                "cycles": top["cycles"], "utilisation (%)": 100 * top["utilisation"]})), "",
                f"All {len(mapping)} mapped ops: `{key}/mapping.csv`.", ""]
    lines += ["## Files", "",
              "`summary.csv`/`summary.json`: one row per platform (SI units). `<platform>/`: per_op, "
              "per_layer, per_memory, per_compute, per_task, per_request, per_component, nvm_wear, "
              "placement (and mapping) as CSV. `timeline.perfetto.json`: open in https://ui.perfetto.dev. "
              "`study.yaml`: the study as run.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _once(result: Any, name: str, build) -> pd.DataFrame:
    """``build(result)``, computed once per result when it caches tables (:class:`Result`), as a copy."""
    cached = getattr(result, "_cached", None)
    return cached(name, build) if cached is not None else build(result)


def exit_table(result: Any) -> pd.DataFrame:
    """:func:`_exit_table`, computed once per result."""
    return _once(result, "per_exit_layer", _exit_table)


def token_table(result: Any) -> pd.DataFrame:
    """:func:`_token_table`, computed once per result."""
    return _once(result, "per_token", _token_table)


def _exit_table(result: Any) -> pd.DataFrame:
    """Per exit layer of an early-exit run: ``exit_layer, requests, share, energy_per_request_J`` (the
    mean of the requests' own ledger energy: ops, switch loads, wake-ups, transitions, busy leakage),
    ``service_mean_s``, ``latency_mean_s``, ``latency_p99_s``. Empty without an ``exit_layer`` column in
    ``result.requests`` (studies with ``early_exit`` add it)."""
    req = result.requests
    columns = ["exit_layer", "requests", "share", "energy_per_request_J", "service_mean_s", "latency_mean_s",
               "latency_p99_s"]
    if "exit_layer" not in req or not len(req):
        return pd.DataFrame(columns=columns)
    g = req.groupby("exit_layer")
    table = pd.DataFrame({
        "requests": g.size(), "energy_per_request_J": g["energy_J"].mean(),
        "service_mean_s": g["service_s"].mean(), "latency_mean_s": g["latency_s"].mean(),
        "latency_p99_s": g["latency_s"].quantile(0.99)}).reset_index()
    table.insert(2, "share", table["requests"] / len(req))
    return table[columns]


def _token_table(result: Any) -> pd.DataFrame:
    """Per generation step of a generation run (0 = prefill, n = the n-th generated token): the mean over
    requests of the energy of that step's ops (``energy_per_request_J``), of its span from the first op's
    start to the last op's end (``latency_s``), of the bytes its ops write into memories
    (``write_bytes``) and into non-volatile ones (``nvm_write_bytes``: ProSG's factor writes when its
    factors live in NVM); empty when the traces are not generation traces."""
    from simulator.results.tables import memory_kind

    columns = ["step", "energy_per_request_J", "latency_s", "write_bytes", "nvm_write_bytes"]
    traces = getattr(getattr(result, "workload", None), "traces", None) or {}
    if not traces or any(t.meta.get("kind") != "generation" for t in traces.values()):
        return pd.DataFrame(columns=columns)
    ledger = result.ledger
    keep = ((ledger["request"] >= 0) & (ledger["op"] >= 0)).to_numpy()

    def rows(values) -> np.ndarray:            # a ledger column's op rows (no copy of the whole frame)
        return np.asarray(values)[keep]

    codes, tasks = pd.factorize(ledger["task"])
    step = _op_steps(traces, rows(codes), tasks, rows(ledger["op"]).astype(np.int64))
    memories = getattr(result.platform, "memories", {}) or {}
    nvm = rows(ledger["component"].isin([c for c, m in memories.items() if memory_kind(m) == "nvm"]))
    written = np.where(rows(ledger["category"] == "write"), rows(ledger["bytes"]).astype(float), 0.0)
    frame = pd.DataFrame({"request": rows(ledger["request"]), "step": step, "energy": rows(ledger["energy_J"]),
                          "start": rows(ledger["start_s"]), "end": rows(ledger["end_s"]), "written": written,
                          "nvm_written": np.where(nvm, written, 0.0)})
    per = frame.groupby(["request", "step"]).agg(energy=("energy", "sum"), start=("start", "min"),
                                                 end=("end", "max"), written=("written", "sum"),
                                                 nvm_written=("nvm_written", "sum")).reset_index()
    per["latency"] = per["end"] - per["start"]
    table = per.groupby("step").agg(energy_per_request_J=("energy", "mean"), latency_s=("latency", "mean"),
                                    write_bytes=("written", "mean"), nvm_write_bytes=("nvm_written", "mean"))
    return table.reset_index()[columns]


def _op_steps(traces: dict, codes: np.ndarray, tasks, op_ids: np.ndarray) -> np.ndarray:
    """The generation step of each ledger row's op (``codes``: the rows' task as positions in ``tasks``,
    ``op_ids``: their op id), -1 where the task has no trace or its trace no such op; looked up per task
    with one sorted search (the last op of an id wins, as a dict of them would have it)."""
    step = np.full(len(op_ids), -1, dtype=np.int64)
    for c, task in enumerate(tasks):
        trace = traces.get(task)
        if trace is None or not trace.ops:
            continue
        ids = np.array([op.id for op in trace.ops], dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        ids, steps = ids[order], np.array([op.step for op in trace.ops], dtype=np.int64)[order]
        rows = np.flatnonzero(codes == c)
        pos = np.searchsorted(ids, op_ids[rows], side="right") - 1
        found = (pos >= 0) & (ids[np.maximum(pos, 0)] == op_ids[rows])
        step[rows[found]] = steps[pos[found]]
    return step


def _token_lines(result: Any) -> list[str]:
    table = token_table(result)
    if not len(table):
        return []
    return ["### Per generated token", "", "Mean over requests of each generation step's own ops (step 0: the "
            "prompt's prefill); leakage and switch loads are not split by token.", "", format_markdown(pd.DataFrame({
                "step": table["step"], "energy/request (µJ)": table["energy_per_request_J"] * 1e6,
                "latency (ms)": table["latency_s"] * 1e3, "written (kB)": table["write_bytes"] / 1e3,
                "into NVM (kB)": table["nvm_write_bytes"] / 1e3})), ""]


def _exit_lines(result: Any) -> list[str]:
    table = exit_table(result)
    if not len(table):
        return []
    bar = ["█" * max(1, round(40 * s)) for s in table["share"]]
    return ["### Early exit", "", "Exit-layer histogram and, per exit layer, the mean energy (the request's own "
            "ledger rows) and latency of its requests.", "", format_markdown(pd.DataFrame({
                "exit after layer": table["exit_layer"], "requests": table["requests"],
                "share (%)": 100 * table["share"], "histogram": bar,
                "energy/request (mJ)": table["energy_per_request_J"] * 1e3,
                "service (ms)": table["service_mean_s"] * 1e3, "latency p99 (ms)": table["latency_p99_s"] * 1e3})),
            ""]


def _dvfs_lines(result: Any) -> list[str]:
    curve = result.meta.get("dvfs_curve")
    lines = []
    points = result.requests["operating_point"].value_counts()
    if len(points) > 1 or result.meta.get("dvfs"):
        lines += ["### Operating points", "", ", ".join(f"{k}: {v} requests" for k, v in points.items()), ""]
    why = result.meta.get("dvfs_points")
    if why is not None and len(why):
        lines += ["### What an operating point costs one request", "",
                  "Dynamic energy, leakage while served and the idle energy its service time displaces "
                  "(simulator.study.dvfs.point_breakdown). " + str(result.meta.get("dvfs_why", "")) + ".", "",
                  format_markdown(pd.DataFrame({
                      "point": why["operating_point"], "V": why["voltage_V"],
                      "MHz": why["frequency_Hz"] / 1e6, "service (ms)": why["service_s"] * 1e3,
                      "dynamic (mJ)": why["dynamic_J"] * 1e3, "leakage (mJ)": why["leakage_J"] * 1e3,
                      "displaced idle (mJ)": why["displaced_idle_J"] * 1e3, "net (mJ)": why["net_J"] * 1e3,
                      "largest leaker": why["top_leaker"]})), ""]
    if curve is None:
        return lines
    wide = curve.pivot(index="target_s", columns="configuration", values="energy_per_inference_J")
    missed = curve.pivot(index="target_s", columns="configuration", values="missed")
    view = pd.DataFrame({"latency target (ms)": wide.index * 1e3})
    for name in wide.columns:
        view[f"{name} (mJ)"] = wide[name].to_numpy() * 1e3
        view[f"{name} missed"] = missed[name].to_numpy()
    return lines + ["### Energy per inference against the latency target", "",
                    "Closed form on the same stream: the model without exit heads and with them at a fixed "
                    "operating point, and with EdgeBERT's per-request DVFS (least energy meeting the target "
                    "for the request's exit layer); 'missed' counts requests over the target.", "",
                    format_markdown(view), ""]
