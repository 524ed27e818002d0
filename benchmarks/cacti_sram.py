"""Characterise on-chip SRAM with CACTI 7 and check hetsim's SRAM technologies against it.

The table ``hw_models/data/cacti/sram.csv`` is what this script writes; ``hw_models/memory.py`` interpolates
it (log space) for ``sram-hp`` and ``sram-lstp``. Nothing of CACTI is in the repository: build it outside
(see ``hw_models/data/cacti/README.md``)::

    python benchmarks/cacti_sram.py build --workdir /tmp/cacti          # pip download + make (once)
    python benchmarks/cacti_sram.py generate --cacti /tmp/cacti/.../cacti/cacti [--jobs 1] [--resume]
    python benchmarks/cacti_sram.py check --cacti /tmp/cacti/.../cacti/cacti [--nodes 22 28 45] [--samples 12]

CACTI is configured exactly as ``hwcomponents_cacti.SRAM`` (hwcomponents-cacti 1.0.40) configures it:
its ``default_cfg.cfg`` (cache type "ram", leakage-weighted objective, UCA), one read-write port, the
word as block size and bus width, ``-UCA bank N``; only the cell and periphery flavour changes
(``itrs-hp`` or ``itrs-lstp``). Leakage is CACTI's "Standby leakage per bank" times the bank count (as
hwcomponents reports it).

The table holds CACTI 7's nodes 22, 32, 45, 65 and 90 nm (the full grid at 22 nm, a grid without the
slowest arrays at the others, :func:`grid`). ``check`` runs CACTI directly at random off-grid capacities
and bank counts (and on grid points) at the nodes given and prints the ratio of hetsim's figure to CACTI's
for each quantity: it is the acceptance test of the calibration (within 10 % at CACTI's nodes), kept out
of the unit tests because it needs the CACTI binary; ``--csv`` keeps CACTI's figures at its points for
``tests/test_cacti_nodes.py``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import math
import os
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "hw_models" / "data" / "cacti" / "sram.csv"
CACTI_VERSION = "CACTI 7 (as bundled in the PyPI wheel hwcomponents-cacti 1.0.40, rebuilt from its source)"

#: The grid (powers of two). Capacity 8 KiB .. 64 MiB, banks 1 .. 32, words 32 .. 256 bit, both flavours.
CAPACITIES = [2 ** k for k in range(13, 27)]
BANKS = [1, 2, 4, 8, 16, 32]
WORDS = [64, 128, 32, 256]
FLAVOURS = ["itrs-hp", "itrs-lstp"]
#: CACTI 7's technology nodes (nm) that the bundled source accepts (its tech_params also has 16 nm and 180 nm
#: files; CACTI 7 rejects 16 nm, and 180 nm is outside ITRS's projections it was built on).
NODES_NM = [22, 32, 45, 65, 90]
#: The node of the full grid (the technologies' reference node). The other nodes leave out the 4 MiB and
#: 16 MiB arrays (the slowest CACTI runs; their neighbours 2, 8, 32 MiB are kept), to keep the run short
#: on a shared machine; hetsim carries the reference node's structure to them by interpolating each node's
#: ratio to it (hw_models/cacti.py). A first, coarser grid (every other capacity, banks 1, 4, 16, 32) was
#: 10-44 % off CACTI below 1 MiB, where CACTI's choice of organisation changes from node to node.
REFERENCE_NODE_NM = 22
COARSE_CAPACITIES = [2 ** k for k in range(13, 22)] + [2 ** 23, 2 ** 25, 2 ** 26]
COARSE_BANKS = BANKS
OFFGRID = TABLE.with_name("offgrid.csv")


def grid(node_nm: float) -> tuple[list[int], list[int], list[int]]:
    """(capacities, banks, words) of the grid generated at ``node_nm``."""
    if node_nm == REFERENCE_NODE_NM:
        return CAPACITIES, BANKS, WORDS
    return COARSE_CAPACITIES, COARSE_BANKS, WORDS

COLUMNS = ("flavour", "node_nm", "capacity_bytes", "banks", "word_bits", "read_energy_J", "write_energy_J",
           "leakage_W", "area_m2", "access_time_s", "cycle_time_s")

# hwcomponents-cacti 1.0.40, default_cfg.cfg verbatim (its option lines; CACTI needs the IO block too)
_CFG = """\
-Array Power Gating - "false"
-WL Power Gating - "false"
-CL Power Gating - "false"
-Bitline floating - "false"
-Interconnect Power Gating - "false"
-Power Gating Performance Loss "default"
-exclusive read port 0
-exclusive write port 0
-single ended read ports 0
-page size (bits) 0
-burst length 8
-internal prefetch width 8
-Data array cell type - "{flavour}"
-Data array peripheral type - "{flavour}"
-Tag array cell type - "{flavour}"
-Tag array peripheral type - "{flavour}"
-operating temperature (K) 300
-access mode (normal, sequential, fast) - "fast"
-design objective (weight delay, dynamic power, leakage power, cycle time, area) 0:0:1000000:0:0
-deviate (delay, dynamic power, leakage power, cycle time, area) 20:10:100000:100:100
-NUCAdesign objective (weight delay, dynamic power, leakage power, cycle time, area) 100:100:0:0:100
-NUCAdeviate (delay, dynamic power, leakage power, cycle time, area) 10:10000:10000:10000:10000
-Optimize ED or ED^2 (ED, ED^2, NONE): "ED^2"
-Cache model (NUCA, UCA)  - "UCA"
-NUCA bank count 0
-Wire signaling (fullswing, lowswing, default) - "Global_30"
-Wire inside mat - "semi-global"
-Wire outside mat - "semi-global"
-Interconnect projection - "normal"
-Core count 1
-Add ECC - "false"
-Print level (DETAILED, CONCISE) - "DETAILED"
-Print input parameters - "true"
-Force cache config - "false"
-Ndwl 1
-Ndbl 1
-Nspd 0
-Ndcm 1
-Ndsam1 0
-Ndsam2 0
-dram_type "DDR3"
-io state "WRITE"
-addr_timing 1.0 //SDR (half of DQ rate)
-mem_density 4 Gb //Valid values 2^n Gb
-bus_freq 800 MHz //As of current memory standards (2013), valid range 0 to 1.5 GHz for DDR3, 0 to 533 MHz for LPDDR2, 0 - 800 MHz for WideIO and 0 - 3 GHz for Low-swing differential. However this can change, and the user is free to define valid ranges based on new memory types or extending beyond existing standards for existing dram types.
-duty_cycle 1.0 //Valid range 0 to 1.0
-activity_dq 1.0 //Valid range 0 to 1.0 for DDR, 0 to 0.5 for SDR
-activity_ca 0.5 //Valid range 0 to 1.0 for DDR, 0 to 0.5 for SDR, 0 to 0.25 for 2T, and 0 to 0.17 for 3T
-num_dq 72 //Number of DQ pins. Includes ECC pins.
-num_dqs 18 //2 x differential pairs. Include ECC pins as well. Valid range 0 to 18. For x4 memories, could have 36 DQS pins.
-num_ca 25 //Valid range 0 to 35 pins.
-num_clk  2 //2 x differential pair. Valid values: 0/2/4.
-num_mem_dq 2 //Number of ranks (loads on DQ and DQS) per buffer/register. If multiple LRDIMMs or buffer chips exist, the analysis for capacity and power is reported per buffer/register.
-mem_data_width 8 //x4 or x8 or x16 or x32 memories. For WideIO upto x128.
-rtt_value 10000
-ron_value 34
-tflight_value
-num_bobs 1
-capacity 80
-num_channels_per_bob 1
-first metric "Cost"
-second metric "Bandwidth"
-third metric "Energy"
-DIMM model "ALL"
-mirror_in_bob "F"
-size (bytes) {size}
-read-write port  1
-block size (bytes) {block}
-technology (u) {tech_um}
-output/input bus width  {bus}
-UCA bank {banks}
-cache type "ram"
-tag size (b) 0
-associativity 1
"""


def valid(capacity: int, banks: int, word_bits: int) -> bool:
    """CACTI's range, as hwcomponents keeps to it: at least 64 words per bank, words of at least 32 bit."""
    return word_bits >= 32 and capacity * 8 // word_bits >= 64 * banks


def run_cacti(cacti: Path, flavour: str, node_nm: float, capacity: int, banks: int, word_bits: int) -> dict:
    """One CACTI run; the figures in SI units (J per access, W, m², s)."""
    cfg = _CFG.format(flavour=flavour, size=capacity, block=word_bits // 8, tech_um=node_nm / 1000,
                      bus=word_bits, banks=banks)
    with tempfile.TemporaryDirectory(prefix="cacti-") as tmp:
        name = hashlib.sha256(cfg.encode()).hexdigest()[:16]
        infile = Path(tmp) / name
        infile.write_text(cfg)
        res = subprocess.run([str(cacti.resolve()), "-infile", str(infile)], cwd=cacti.parent,
                             capture_output=True, text=True)
        out = Path(str(infile) + ".out")
        if res.returncode != 0 or not out.exists():
            raise RuntimeError(f"CACTI failed for {flavour} {capacity} B {banks} banks {word_bits} bit: "
                               f"{res.stdout[-400:]} {res.stderr[-400:]}")
        row = list(csv.DictReader(out.read_text().splitlines()))[-1]
    row = {k.strip(): v for k, v in row.items()}
    return dict(flavour=flavour, node_nm=node_nm, capacity_bytes=capacity, banks=banks, word_bits=word_bits,
                read_energy_J=float(row["Dynamic read energy (nJ)"]) * 1e-9,
                write_energy_J=float(row["Dynamic write energy (nJ)"]) * 1e-9,
                leakage_W=float(row["Standby leakage per bank(mW)"]) * 1e-3 * banks,
                area_m2=float(row["Area (mm2)"]) * 1e-6,
                access_time_s=float(row["Access time (ns)"]) * 1e-9,
                cycle_time_s=float(row["Random cycle time (ns)"]) * 1e-9)


def generate(args) -> int:
    cacti = Path(args.cacti)
    points = [(f, n, *g) for f in FLAVOURS for n in args.nodes for g in itertools.product(*grid(n))
              if valid(*g)]
    # node by node (the reference first), so a partial run already gives whole nodes
    points.sort(key=lambda p: (p[1] != REFERENCE_NODE_NM, p[1], p[0], WORDS.index(p[4]), -p[2], p[3]))
    out = Path(args.out)
    partial = out.with_suffix(".partial.csv")
    done: dict[tuple, dict] = {}
    if args.resume:
        for path in (out, partial):
            if path.exists():
                for row in _read(path, header=path == out):
                    done[tuple(row[c] for c in COLUMNS[:5])] = row
    todo = [p for p in points if p not in done]
    print(f"{len(points)} points, {len(todo)} to run with {args.jobs} process(es)", file=sys.stderr)
    with ThreadPoolExecutor(args.jobs) as pool, partial.open("a") as log:
        for i, row in enumerate(pool.map(lambda p: run_cacti(cacti, *p), todo)):
            key = tuple(row[c] for c in COLUMNS[:5])
            done[key] = row
            log.write(",".join(str(row[c]) for c in COLUMNS) + "\n")
            log.flush()
            if i % 50 == 0:
                print(f"  {i + 1}/{len(todo)}", file=sys.stderr)
    on_grid = set(points) | {k for k in done if k[1] not in args.nodes}   # rows of nodes not regenerated stay
    _write(out, [done[p] for p in sorted(done) if p in on_grid])
    extra = [done[p] for p in sorted(done) if p not in on_grid]
    if extra:   # direct runs between a coarse grid's points (an earlier, finer run): the unit tests' check points
        _write(Path(args.offgrid), extra)
    partial.unlink(missing_ok=True)
    print(f"wrote {out} ({len(done) - len(extra)} points) and {len(extra)} off-grid points", file=sys.stderr)
    return 0


def _read(path: Path, header: bool = True) -> list[dict]:
    """Rows of a table written by :func:`_write` (or of the headerless partial log)."""
    rows = []
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    for row in csv.DictReader(lines, fieldnames=None if header else COLUMNS):
        rows.append({c: (row[c] if c == "flavour" else
                         float(row[c]) if c.endswith(("_J", "_W", "_m2", "_s")) or c == "node_nm" else int(row[c]))
                     for c in COLUMNS})
    return rows


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write(f"# {CACTI_VERSION}; configured as hwcomponents_cacti.SRAM (default_cfg.cfg, cache type ram,\n"
                f"# 1 RW port, block = bus = word, -UCA bank N); flavour = cell and periphery type.\n"
                f"# Leakage = CACTI 'Standby leakage per bank' x banks. Regenerate: benchmarks/cacti_sram.py\n")
        f.write(",".join(COLUMNS) + "\n")
        for r in rows:
            f.write(",".join(f"{r[c]:.6g}" if isinstance(r[c], float) and c != "node_nm" else f"{r[c]:g}"
                             if isinstance(r[c], float) else str(r[c]) for c in COLUMNS) + "\n")


_FIELDS = (("read_energy_J", "read_energy_per_access_J"), ("write_energy_J", "write_energy_per_access_J"),
           ("leakage_W", "leakage_W"), ("area_m2", "area_m2"), ("access_time_s", "read_latency_s"))


def check(args) -> int:
    """hetsim's sram-hp / sram-lstp against direct CACTI runs at random points of the range, at each of
    ``--nodes`` (a node between CACTI's is fine: CACTI interpolates its technology parameters there)."""
    sys.path.insert(0, str(ROOT))
    from hw_models.memory import Memory

    rng = random.Random(args.seed)
    cases = []
    for node in args.nodes:
        for _ in range(args.samples):
            flavour = rng.choice(FLAVOURS)
            word = rng.choice(WORDS)
            banks = rng.choice([b for b in range(1, 33)])
            banks = 2 ** round(math.log2(banks)) if args.pow2_banks else banks
            while True:
                cap = int(2 ** rng.uniform(13, 26))
                cap -= cap % (banks * word // 8 * 8)
                if cap > 0 and valid(cap, 2 ** math.ceil(math.log2(banks)), word):
                    break
            cases.append((flavour, node, cap, banks, word))
    worst = {True: 0.0, False: 0.0}   # at CACTI's nodes (the table's), between them
    rows = []
    print(f"{'tech':9} {'node':>4} {'capacity':>10} {'banks':>5} {'word':>4}  "
          + "  ".join(f"{f[1][:12]:>12}" for f in _FIELDS))
    for flavour, node, cap, banks, word in cases:
        if banks & (banks - 1):
            continue  # CACTI itself only takes powers of two
        ref = run_cacti(Path(args.cacti), flavour, node, cap, banks, word)
        rows.append(ref)
        tech = "sram-hp" if flavour == "itrs-hp" else "sram-lstp"
        m = Memory.from_technology("m", tech, cap, word_bits=word, banks=banks, node_m=node * 1e-9)
        ratios = [getattr(m, ours) / ref[theirs] for theirs, ours in _FIELDS]
        at_node = node in NODES_NM
        worst[at_node] = max(worst[at_node], *(abs(r - 1) for r in ratios))
        print(f"{tech:9} {node:>4g} {cap:>10} {banks:>5} {word:>4}  " + "  ".join(f"{r:12.3f}" for r in ratios),
              flush=True)
    print(f"worst deviation from CACTI at its nodes ({', '.join(f'{n:g}' for n in NODES_NM)} nm): "
          f"{worst[True]:.1%} (target <= 10 %)")
    if any(n not in NODES_NM for n in args.nodes):
        print(f"worst deviation between CACTI's nodes: {worst[False]:.1%} (hetsim: each figure log-linear in "
              f"log(node) between the two table nodes; CACTI interpolates its device parameters there, and "
              f"leakage follows them non-linearly)")
    if args.csv:   # CACTI's own figures at the check points: tests/test_cacti_nodes.py reads them
        _write(Path(args.csv), rows)
    return 0 if worst[True] <= 0.10 else 1


def build(args) -> int:
    """Download the hwcomponents-cacti wheel (its CACTI source) into ``--workdir`` and build CACTI there."""
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python",
                    "hwcomponents-cacti==1.0.40", "-d", str(work)], check=True)
    wheel = next(work.glob("hwcomponents_cacti-1.0.40-*.whl"))
    subprocess.run(["unzip", "-q", "-o", str(wheel), "-d", str(work / "unz")], check=True)
    src = work / "unz" / "hwcomponents_cacti" / "cacti"
    for o in (src / "obj_dbg").glob("*.o"):
        o.unlink()
    (src / "cacti").unlink(missing_ok=True)
    (src / "obj_dbg").mkdir(exist_ok=True)
    # -O2 (the wheel's makefile builds -O0 for debugging): several times faster, identical output (checked
    # on grid points of the committed table)
    subprocess.run(["make", "TAG=dbg", "-f", "cacti.mk", "OPT=-O2 -DNTHREADS=1", "DBG="], cwd=src, check=True)
    print(src / "cacti")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--workdir", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--cacti", required=True, help="path of the built cacti binary")
    g.add_argument("--out", default=str(TABLE))
    g.add_argument("--jobs", type=int, default=1)
    g.add_argument("--resume", action="store_true")
    g.add_argument("--nodes", type=int, nargs="+", default=NODES_NM, help="technology nodes (nm)")
    g.add_argument("--offgrid", default=str(OFFGRID), help="where resumed runs off the grid go")
    c = sub.add_parser("check")
    c.add_argument("--cacti", required=True)
    c.add_argument("--samples", type=int, default=12)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--nodes", type=float, nargs="+", default=[22], help="nodes (nm) to check at (22 ... 90)")
    c.add_argument("--csv", help="also write CACTI's figures at the check points to this file")
    c.add_argument("--pow2-banks", action="store_true", default=True)
    args = p.parse_args(argv)
    return {"build": build, "generate": generate, "check": check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
