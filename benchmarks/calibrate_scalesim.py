"""Calibrate ``hw_models.MacArray.matmul_cycles`` against SCALE-Sim v3's cycle model.

SCALE-Sim (PyPI ``scalesim``, needs numpy<2) is not a hetsim dependency: it lives in its own throwaway venv,

    python3 -m venv /work/venvs/scalesim && /work/venvs/scalesim/bin/pip install "numpy<2" scalesim

and this script drives it in a subprocess. It runs transformer-shaped GEMMs (BERT/ALBERT-base at sequence
length 128) for every dataflow on 16×16 and 32×32 arrays, and prints SCALE-Sim's "Total Cycles" (the array
timeline, without the first load / last write-back, which depend on bandwidth settings) next to hetsim's,
with the relative error. Exit code 1 if any error exceeds ``--target`` (default 5 %).

    .venv/bin/python benchmarks/calibrate_scalesim.py [--scalesim-python PATH] [--quick] [--gemms A,B]

SCALE-Sim simulates every cycle: the full set takes the better part of an hour on two shared cores and
~2 GB of memory (the 128×768×3072 GEMMs dominate); ``--quick`` runs in about 2.5 minutes.

The SCALE-Sim interpreter is taken from ``--scalesim-python``, else ``$SCALESIM_PYTHON``, else
``/work/venvs/scalesim/bin/python``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hw_models import MacArray  # noqa: E402

#: (name, M, K, N) for A[M×K]·B[K×N]: ALBERT/BERT-base layers at sequence length 128.
GEMMS = (
    ("qkv_proj_128x768x768", 128, 768, 768),
    ("ffn_up_128x768x3072", 128, 768, 3072),
    ("ffn_down_128x3072x768", 128, 3072, 768),
    ("attn_scores_128x64x128", 128, 64, 128),
    ("attn_context_128x128x64", 128, 128, 64),
    ("adapter_down_128x768x64", 128, 768, 64),
)
QUICK = ("qkv_proj_128x768x768", "attn_scores_128x64x128", "adapter_down_128x768x64")
ARRAYS = ((16, 16), (32, 32))
DATAFLOWS = ("ws", "os", "is")

CONFIG = """\
[general]
run_name = calib

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 4096
FilterSramSzkB: 4096
OfmapSramSzkB: 4096
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: {dataflow}
Bandwidth: 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# Runs inside the SCALE-Sim venv: simulate every layer of the topology, print one JSON list of
# "Total Cycles" (array timeline) per layer.
DRIVER = """\
import contextlib, io, json, sys
from scalesim.scale_sim import scalesim
cfg, topo, layout, out = sys.argv[1:5]
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                   input_type_gemm=True)
    sim.run_scale(top_path=out)
print(json.dumps([layer.get_compute_report_items()[1] for layer in sim.runner.single_layer_sim_object_list]))
"""


def scalesim_python(cli_value: str | None) -> str:
    """The interpreter of the SCALE-Sim venv (CLI, then $SCALESIM_PYTHON, then the default path)."""
    path = cli_value or os.environ.get("SCALESIM_PYTHON") or "/work/venvs/scalesim/bin/python"
    if not Path(path).is_file():
        sys.exit(f"calibrate_scalesim: no SCALE-Sim python at {path}; create the venv (see --help) or pass "
                 f"--scalesim-python")
    return path


def run_scalesim(python: str, rows: int, cols: int, dataflow: str,
                 gemms: list[tuple[str, int, int, int]], workdir: Path) -> list[int]:
    """SCALE-Sim's array cycles for each GEMM (M, K, N) on a rows×cols array with ``dataflow``."""
    run = workdir / f"{rows}x{cols}_{dataflow}"
    run.mkdir()
    (run / "scale.cfg").write_text(CONFIG.format(rows=rows, cols=cols, dataflow=dataflow))
    # SCALE-Sim's GEMM topology columns are name, M, N, K with a trailing comma on every line
    (run / "topology.csv").write_text("Layer, M, N, K,\n" + "".join(
        f"{name}, {m}, {n}, {k},\n" for name, m, k, n in gemms))
    (run / "layout.csv").write_text("Layer,\n")  # required even with custom layouts off
    out = subprocess.run([python, "-c", DRIVER, str(run / "scale.cfg"), str(run / "topology.csv"),
                          str(run / "layout.csv"), str(run / "out")],
                         capture_output=True, text=True, check=True)
    return [int(c) for c in json.loads(out.stdout.strip().splitlines()[-1])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scalesim-python", help="python of the SCALE-Sim venv")
    parser.add_argument("--quick", action="store_true", help="three GEMMs instead of six")
    parser.add_argument("--gemms", help="comma-separated GEMM names to run (default: all; see GEMMS)")
    parser.add_argument("--target", type=float, default=5.0, help="largest acceptable error, %% (default 5)")
    args = parser.parse_args(argv)
    python = scalesim_python(args.scalesim_python)
    chosen = args.gemms.split(",") if args.gemms else QUICK if args.quick else [g[0] for g in GEMMS]
    gemms = [g for g in GEMMS if g[0] in chosen]
    if len(gemms) != len(chosen):
        sys.exit(f"calibrate_scalesim: unknown GEMM in {chosen}; expected names from {[g[0] for g in GEMMS]}")

    print(f"{'array':>6} {'df':>3} {'gemm (M x K x N)':<26} {'SCALE-Sim':>10} {'hetsim':>10} {'error':>8}")
    worst = 0.0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hetsim-scalesim-") as tmp:
        for rows, cols in ARRAYS:
            for dataflow in DATAFLOWS:
                reference = run_scalesim(python, rows, cols, dataflow, gemms, Path(tmp))
                array = MacArray(rows=rows, cols=cols, dataflow=dataflow)
                for (name, m, k, n), ref in zip(gemms, reference):
                    ours = array.matmul_cycles(m, k, n)
                    err = 100.0 * (ours - ref) / ref
                    worst = max(worst, abs(err))
                    print(f"{rows:>3}x{cols:<2} {dataflow:>3} {name:<26} {ref:>10} {ours:>10} {err:>+7.2f}%", flush=True)
    print(f"worst |error| {worst:.3f} % (target {args.target} %); SCALE-Sim time "
          f"{time.perf_counter() - started:.1f} s")
    return 0 if worst <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
