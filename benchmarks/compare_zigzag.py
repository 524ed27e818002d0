"""Compare hetsim's mapping search with ZigZag's on transformer GEMMs (issue 6, item 4).

Both tools see the same two-level hierarchy and the same costs: a staging buffer (SRAM, low-standby-power
flavour from hetsim's technology library, sized per case) in front of one home memory (LPDDR4) holding all
three operands, a 16x16 weight-stationary array of 8-bit MACs with 32-bit partial sums, and hetsim's
per-byte read/write energies and per-MAC energy. Inside the array, weights and partial sums sit in
zero-cost PE registers (hetsim's model charges nothing inside the array either). Printed per case: bytes
read/written on the home memory and on the buffer, total energy (memories + MACs) of each tool's best
mapping *under its own cost model*, and the wall time each search took.

ZigZag (PyPI ``zigzag-dse`` with ``six``) is not a project dependency: it runs in its own venv, by default
``/work/venvs/zigzag`` (``python -m venv /work/venvs/zigzag && /work/venvs/zigzag/bin/pip install
zigzag-dse six``), as a subprocess fed a JSON job. Without it, only the hetsim half is printed.

    python benchmarks/compare_zigzag.py [--zigzag-python PATH] [--lpf-limit 6] [--quick]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from hw_models.compute import MacArray
from hw_models.memory import Memory
from simulator.prepare.mapping import Gemm, best_mapping, clear_cache, hardware

#: (m, k, n): ALBERT-base/BERT-base GEMMs at 128 tokens: QKV/output projection, FFN up, FFN down, one
#: head's Q·K^T and P·V.
GEMMS = [(128, 768, 768), (128, 768, 3072), (128, 3072, 768), (128, 64, 128), (128, 128, 64)]
BUFFERS = [16 * 1024, 64 * 1024, 256 * 1024]
BITS = dict(a_bits=8, w_bits=8, o_bits=8, acc_bits=32)
ROWS = COLS = 16
WORD_BITS = 64

ZIGZAG_DRIVER = r'''
"""Runs inside /work/venvs/zigzag: reads a JSON job on stdin, prints JSON results."""
import json, sys, time, tempfile, os, logging, io, contextlib
import yaml

job = json.load(sys.stdin)
R, C = job["rows"], job["cols"]

def port(name, typ, bw_min, bw_max, alloc):
    return {"name": name, "type": typ, "bandwidth_min": bw_min, "bandwidth_max": bw_max, "allocation": alloc}

def accel(buf_bits, buf_r, buf_w, home_r, home_w, word_bits, mac_pJ, double):
    mems = {
        "reg_W": {"size": job["w_bits"], "r_cost": 0.0, "w_cost": 0.0, "area": 0.0, "latency": 1,
                  "operands": ["I2"], "served_dimensions": [],
                  "ports": [port("r_port_1", "read", job["w_bits"], job["w_bits"], ["I2, tl"]),
                            port("w_port_1", "write", job["w_bits"], job["w_bits"], ["I2, fh"])]},
        "reg_O": {"size": job["acc_bits"], "r_cost": 0.0, "w_cost": 0.0, "area": 0.0, "latency": 1,
                  "operands": ["O"], "served_dimensions": ["D1"],
                  "ports": [port("r_port_1", "read", job["acc_bits"], job["acc_bits"], ["O, tl"]),
                            port("r_port_2", "read", job["acc_bits"], job["acc_bits"], ["O, th"]),
                            port("w_port_1", "write", job["acc_bits"], job["acc_bits"], ["O, fh"]),
                            port("w_port_2", "write", job["acc_bits"], job["acc_bits"], ["O, fl"])]},
        "buffer": {"size": buf_bits, "r_cost": buf_r, "w_cost": buf_w, "area": 0.0, "latency": 1,
                   "operands": ["I1", "I2", "O"], "served_dimensions": ["D1", "D2"],
                   "force_double_buffering": double,
                   "ports": [port("rw_port_1", "read_write", 8, word_bits, ["I1, tl", "I2, tl", "O, tl", "O, fl"]),
                             port("rw_port_2", "read_write", 8, word_bits, ["I1, fh", "I2, fh", "O, fh", "O, th"])]},
        "home": {"size": 1 << 40, "r_cost": home_r, "w_cost": home_w, "area": 0.0, "latency": 1,
                 "operands": ["I1", "I2", "O"], "served_dimensions": ["D1", "D2"],
                 "ports": [port("rw_port_1", "read_write", 8, word_bits,
                                ["I1, tl", "I2, tl", "O, tl", "O, fl", "O, fh", "O, th", "I1, fh", "I2, fh"])]},
    }
    return {"name": "hetsim_two_level", "memories": mems,
            "operational_array": {"dimensions": ["D1", "D2"], "sizes": [R, C],
                                  "input_precision": [job["a_bits"], job["w_bits"]],
                                  "unit_energy": mac_pJ, "unit_area": 1.0}}

out = []
tmp = tempfile.mkdtemp(prefix="zz")
from zigzag.api import get_hardware_performance_zigzag
from zigzag.hardware.architecture.memory_port import DataDirection
logging.disable(logging.CRITICAL)
for case in job["cases"]:
    m, k, n = case["m"], case["k"], case["n"]
    wl = [{"id": 0, "name": "gemm", "operator_type": "Gemm", "equation": "O[b][k]+=I[b][c]*W[c][k]",
           "loop_dims": ["B", "C", "K"], "loop_sizes": [m, k, n],
           "operand_precision": {"I": job["a_bits"], "W": job["w_bits"], "O": job["acc_bits"], "O_final": job["o_bits"]},
           "operand_source": {"I": 0, "W": 0}}]
    mp = [{"name": "default", "spatial_mapping": {"D1": ["C, %d" % R], "D2": ["K, %d" % C]},
           "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
    if case.get("ordering"):  # cost this fixed loop nest (innermost first) instead of searching
        mp[0]["temporal_ordering"] = case["ordering"]
    acc = accel(int(case["buffer_bytes"] * 8), case["buf_r_pJ"], case["buf_w_pJ"], case["home_r_pJ"], case["home_w_pJ"],
                job["word_bits"], job["mac_pJ"], job["double"])
    paths = {}
    for name, data in (("workload", wl), ("accelerator", acc), ("mapping", mp)):
        paths[name] = os.path.join(tmp, f"{name}_{m}_{k}_{n}_{case['buffer_bytes']}_{len(out)}.yaml")
        with open(paths[name], "w") as f:
            yaml.safe_dump(data, f, sort_keys=False)
    t0 = time.perf_counter()
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(err), contextlib.redirect_stderr(err):
            energy, latency, cmes = get_hardware_performance_zigzag(
                paths["workload"], paths["accelerator"], paths["mapping"], opt="energy",
                dump_folder=os.path.join(tmp, "out"), lpf_limit=job["lpf_limit"], loma_show_progress_bar=False)
    except Exception as exc:  # report what failed, keep going
        out.append({"case": case, "error": f"{type(exc).__name__}: {exc}", "log": err.getvalue()[-2000:]})
        continue
    dt = time.perf_counter() - t0
    cme = cmes[0][1][0][0] if isinstance(cmes[0][1], list) else cmes[0][0]
    traffic = {}
    hier = cme.accelerator.memory_hierarchy
    for layer_op, accesses in cme.memory_word_access.items():
        mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
        for acc_cnt, level in zip(accesses, hier.get_memory_levels(mem_op)):
            name = level.name
            rd = acc_cnt.get(DataDirection.RD_OUT_TO_HIGH) + acc_cnt.get(DataDirection.RD_OUT_TO_LOW)
            wr = acc_cnt.get(DataDirection.WR_IN_BY_HIGH) + acc_cnt.get(DataDirection.WR_IN_BY_LOW)
            t = traffic.setdefault(name, {"read_accesses": 0, "write_accesses": 0})
            t["read_accesses"] += rd
            t["write_accesses"] += wr
    out.append({"case": case, "energy_pJ": float(cme.energy_total), "mac_energy_pJ": float(cme.mac_energy),
                "latency_cycles": float(cme.latency_total2), "seconds": dt, "traffic": traffic,
                "temporal_mapping": str(cme.temporal_mapping)[:2000]})
print(json.dumps(out))
'''


class _Platform:
    """The two memories and the MAC array of one comparison case (what ``hardware()`` reads)."""

    def __init__(self, buffer_bytes: int):
        self.memories = {
            "buffer": Memory.from_technology("buffer", "sram-lstp", buffer_bytes, word_bits=WORD_BITS,
                                             node_m=22e-9, is_buffer=True),
            "dram": Memory.from_technology("dram", "lpddr4", 1 << 30, word_bits=WORD_BITS),
        }
        self.mac_array = MacArray(rows=ROWS, cols=COLS, dataflow="ws", weight_bits=BITS["w_bits"],
                                  act_bits=BITS["a_bits"], acc_bits=BITS["acc_bits"])


def hetsim_case(m: int, k: int, n: int, buffer_bytes: int) -> dict:
    """hetsim's best energy mapping of one GEMM, timed from a cold cache."""
    plat = _Platform(buffer_bytes)
    gemm = Gemm(batch=1, m=m, k=k, n=n, a_bytes=BITS["a_bits"] / 8, w_bytes=BITS["w_bits"] / 8,
                o_bytes=BITS["o_bits"] / 8, acc_bytes=BITS["acc_bits"] / 8,
                a_home="dram", w_home="dram", o_home="dram")
    clear_cache()
    t0 = time.perf_counter()
    best = best_mapping(gemm, hardware(plat, plat.memories["buffer"]), "energy")
    seconds = time.perf_counter() - t0
    return {"energy_J": best.energy_J, "seconds": seconds, "reads": best.reads, "writes": best.writes,
            "mapping": f"{best.loop_order} tiles(m,k,n)={best.tiles} fetches={best.fetches}",
            "order": best.loop_order, "tiles": best.tiles,
            "candidates": best.candidates_evaluated}


def zigzag_ordering(m: int, k: int, n: int, order: str, tiles: tuple[int, int, int]) -> list | None:
    """hetsim's mapping as a complete ZigZag temporal ordering (innermost first; B=m, C=k, K=n, with k and
    n unrolled over the array's rows and columns): inside a tile the weight-stationary array streams tm
    rows per (k, n) fold, then the tile loops in hetsim's order. None when a tile does not divide its
    dimension or is narrower than the array (ZigZag's factors must be exact)."""
    tm, tk, tn = tiles
    if m % tm or k % tk or n % tn or tk % ROWS or tn % COLS:
        return None
    inner = [["B", tm], ["C", tk // ROWS], ["K", tn // COLS]]
    trips = {"m": ["B", m // tm], "k": ["C", k // tk], "n": ["K", n // tn]}
    loops = inner + [trips[d] for d in reversed(order)]
    return [loop for loop in loops if loop[1] > 1]


def zigzag_job(cases: list[tuple[int, int, int, int]], lpf_limit: int,
               orderings: list | None = None) -> dict:
    """The JSON job for the ZigZag driver: the same costs, in ZigZag's units (pJ per 64-bit access).
    With ``orderings``, ZigZag costs those fixed loop nests (None entries are skipped) instead of searching."""
    jobs = []
    for i, (m, k, n, buf) in enumerate(cases):
        if orderings is not None and orderings[i] is None:
            continue
        plat = _Platform(buf)
        b, d = plat.memories["buffer"], plat.memories["dram"]
        per_word = WORD_BITS / 8 * 1e12
        jobs.append({"m": m, "k": k, "n": n, "buffer_bytes": buf,
                     "buf_r_pJ": b.read_energy(1.0) * per_word, "buf_w_pJ": b.write_energy(1.0) * per_word,
                     "home_r_pJ": d.read_energy(1.0) * per_word, "home_w_pJ": d.write_energy(1.0) * per_word,
                     "ordering": orderings[i] if orderings is not None else None})
    mac_pJ = _Platform(BUFFERS[0]).mac_array.energy_per_mac_J() * 1e12
    return {"rows": ROWS, "cols": COLS, "word_bits": WORD_BITS, "mac_pJ": mac_pJ, "double": False,
            "lpf_limit": lpf_limit, "cases": jobs, **BITS}


def run_zigzag(python: str, job: dict, timeout_s: float) -> list[dict] | str:
    """Results of the ZigZag driver, or the reason it could not run."""
    if not Path(python).exists():
        return f"no ZigZag interpreter at {python}"
    try:
        proc = subprocess.run([python, "-c", ZIGZAG_DRIVER], input=json.dumps(job), capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"ZigZag did not finish within {timeout_s:.0f} s"
    if proc.returncode != 0:
        return f"ZigZag driver failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mb(x: float) -> str:
    return f"{x / 1e6:8.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zigzag-python", default="/work/venvs/zigzag/bin/python",
                    help="interpreter of the venv where zigzag-dse is installed")
    ap.add_argument("--lpf-limit", type=int, default=6, help="ZigZag LOMA search budget (lpf_limit)")
    ap.add_argument("--quick", action="store_true", help="one buffer size only (64 KiB)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed for all ZigZag runs")
    args = ap.parse_args(argv)

    buffers = [64 * 1024] if args.quick else BUFFERS
    cases = [(m, k, n, buf) for buf in buffers for (m, k, n) in GEMMS]
    ours = [hetsim_case(*c) for c in cases]
    theirs = run_zigzag(args.zigzag_python, zigzag_job(cases, args.lpf_limit), args.timeout)
    orderings = [zigzag_ordering(m, k, n, h["order"], h["tiles"]) for (m, k, n, _), h in zip(cases, ours)]
    costed = run_zigzag(args.zigzag_python, zigzag_job(cases, args.lpf_limit, orderings), args.timeout)
    if isinstance(theirs, str):
        print(f"ZigZag: not run: {theirs}")
        theirs, costed = [None] * len(cases), []
    if isinstance(costed, str):
        print(f"ZigZag costing hetsim's mappings: not run: {costed}")
        costed = []
    costed_iter = iter(costed)
    costed = [next(costed_iter) if o is not None else None for o in orderings] if costed else [None] * len(cases)

    print("Traffic in MB (1e6 bytes); energy in uJ (memories + MACs); time per GEMM search.")
    print("Rows: hetsim's best mapping in hetsim's model; ZigZag's best in ZigZag's model (LOMA, lpf_limit "
          f"{args.lpf_limit}); 'zz(ours)': hetsim's mapping costed by ZigZag's model.")
    print(f"{'GEMM m x k x n':>16} {'buffer':>7} | {'tool':8} {'home rd':>8} {'home wr':>8} {'buf rd':>8} "
          f"{'buf wr':>8} {'energy':>9} {'time':>9} | mapping")
    ratios, cross, speedups = [], [], []
    for (m, k, n, buf), h, z, c in zip(cases, ours, theirs, costed):
        print(f"{m}x{k}x{n:<{16 - len(f'{m}x{k}x')}} {buf // 1024:>5}Ki | {'hetsim':8} "
              f"{_mb(h['reads'].get('dram', 0))} {_mb(h['writes'].get('dram', 0))} "
              f"{_mb(h['reads'].get('buffer', 0))} {_mb(h['writes'].get('buffer', 0))} "
              f"{h['energy_J'] * 1e6:9.3f} {h['seconds'] * 1e3:7.2f}ms | {h['mapping']}, "
              f"{h['candidates']} candidates")
        for label, res in (("zigzag", z), ("zz(ours)", c)):
            if res is None:
                continue
            if "error" in res:
                print(f"{'':>24} | {label:8} failed: {res['error']}")
                continue
            t, word = res["traffic"], WORD_BITS / 8
            print(f"{'':>24} | {label:8} {_mb(t['home']['read_accesses'] * word)} "
                  f"{_mb(t['home']['write_accesses'] * word)} {_mb(t['buffer']['read_accesses'] * word)} "
                  f"{_mb(t['buffer']['write_accesses'] * word)} {res['energy_pJ'] * 1e-6:9.3f} "
                  f"{res['seconds']:8.2f}s | {res['temporal_mapping'][:120]}")
        if z is not None and "error" not in z:
            ratios.append(h["energy_J"] * 1e12 / z["energy_pJ"])
            speedups.append(z["seconds"] / max(h["seconds"], 1e-9))
            if c is not None and "error" not in c:
                cross.append(c["energy_pJ"] / z["energy_pJ"])
    if ratios:
        print(f"\nhetsim energy / ZigZag energy (each in its own model): min {min(ratios):.3f}, "
              f"max {max(ratios):.3f} (target <= 1.10) over {len(ratios)} GEMMs")
        if cross:
            print(f"ZigZag's energy of hetsim's mapping / of ZigZag's own best: min {min(cross):.3f}, "
                  f"max {max(cross):.3f} over {len(cross)} GEMMs expressible in ZigZag")
        print(f"search speed-up (ZigZag time / hetsim cold-cache time): min {min(speedups):.0f}x, "
              f"max {max(speedups):.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
