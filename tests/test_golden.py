"""Golden metrics: `hetsim golden capture/check/update`, and the default study's README figures pinned.

The default study's figures are pinned in tests/golden/default-study.json. After a deliberate change of
the figures (recalibrated hardware, a fixed bug), re-capture it with one command and review the diff:

    hetsim golden update tests/golden/default-study.json

then update the README's table from `hetsim run` (test_the_readme_table_is_the_golden_file says where
they disagree).
"""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.study import golden

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GOLDEN = ROOT / "tests" / "golden" / "default-study.json"

TINY = """\
name: tiny
model: albert-base-v2
layers: 1
hidden: 64
seq_len: 16
tasks: [sst2, mnli]
scenario: {requests: 4, rate: 5 Hz, seed: 3}
platforms: [edge-rram, edge-sram]
"""


class Out:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def hetsim(*args, cwd):
    """``hetsim ARGS`` run in ``cwd``, in this process (the CLI's own entry point, faster than a fresh
    interpreter); returns its exit code and output."""
    import contextlib
    import io
    import os

    from simulator.cli.main import main
    out, err, old = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(old)
    return Out(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden")
    (folder / "tiny.yaml").write_text(TINY)
    out = hetsim("golden", "capture", "tiny.yaml", "-o", "golden.json", cwd=folder)
    assert out.returncode == 0, out.stderr
    return folder


def test_capture_records_metrics_versions_and_a_hash_of_every_input(captured):
    doc = json.loads((captured / "golden.json").read_text())
    assert doc["kind"] == golden.KIND and doc["study"]["file"] == "tiny.yaml"
    assert set(doc["metrics"]) == {"edge-rram", "edge-sram"}
    assert set(doc["metrics"]["edge-rram"]) == set(golden.METRICS)
    assert doc["captured"]["versions"]["hetsim"]
    inputs = doc["inputs"]
    for needed in ("tiny.yaml", "<hetsim>/hw_models/platforms/edge-rram.yaml",
                   "<hetsim>/hw_models/data/technologies/rram.yaml", "<hetsim>/hw_models/data/compute.yaml"):
        assert needed in inputs
    import hashlib
    assert inputs["tiny.yaml"] == hashlib.sha256(TINY.encode()).hexdigest()


def test_check_passes_when_nothing_moved(captured):
    out = hetsim("golden", "check", "golden.json", cwd=captured)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "within tolerance" in out.stdout


def test_check_fails_with_a_table_when_one_figure_moves(captured):
    doc = json.loads((captured / "golden.json").read_text())
    doc["metrics"]["edge-sram"]["latency_p99_s"] *= 1.02
    (captured / "moved.json").write_text(json.dumps(doc))
    out = hetsim("golden", "check", "moved.json", cwd=captured)
    assert out.returncode == 1, out.stdout + out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("edge-")]
    assert len(rows) == 1 and "latency_p99_s" in rows[0] and "-1.961 %" in rows[0]
    assert "1 of 30 metrics moved" in out.stdout
    # a looser tolerance for that metric lets it pass
    doc["tolerance"]["latency_p99_s"] = 0.05
    (captured / "loose.json").write_text(json.dumps(doc))
    assert hetsim("golden", "check", "loose.json", cwd=captured).returncode == 0


def test_check_says_which_input_changed(captured, tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY.replace("rate: 5 Hz", "rate: 50 Hz"))
    (folder / "golden.json").write_text((captured / "golden.json").read_text())
    out = hetsim("golden", "check", "golden.json", cwd=folder)
    assert out.returncode == 1
    assert "input changed: tiny.yaml" in out.stdout


def test_update_recaptures_in_place_and_capture_never_overwrites_a_users_file(captured):
    doc = json.loads((captured / "golden.json").read_text())
    doc["metrics"]["edge-rram"]["area_m2"] *= 2
    (captured / "stale.json").write_text(json.dumps(doc))
    out = hetsim("golden", "update", "stale.json", cwd=captured)
    assert out.returncode == 0, out.stderr
    assert hetsim("golden", "check", "stale.json", cwd=captured).returncode == 0
    (captured / "notes.json").write_text('{"mine": true}\n')
    refused = hetsim("golden", "capture", "tiny.yaml", "-o", "notes.json", cwd=captured)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "not a golden-metrics file" in refused.stderr and "Traceback" not in refused.stderr
    assert (captured / "notes.json").read_text() == '{"mine": true}\n'
    again = hetsim("golden", "capture", "tiny.yaml", "-o", "golden.json", cwd=captured)
    assert again.returncode == 2 and "hetsim golden update" in again.stderr


def test_bad_golden_files_are_one_line_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"kind": "something else"}')
    for name in ("bad.json", "other.json", "missing.json"):
        out = hetsim("golden", "check", name, cwd=tmp_path)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert name in out.stderr and "Traceback" not in out.stderr


def test_compare_treats_a_missing_platform_or_metric_as_moved():
    old = {"tolerance": {}, "metrics": {"a": {"x": 1.0, "y": None}, "b": {"x": 2.0}}}
    new = {"tolerance": {}, "metrics": {"a": {"x": 1.0 + 1e-9, "y": None}, "c": {"x": 2.0}}}
    moved = golden.compare(old, new)
    assert {(m.platform, m.metric) for m in moved} == {("b", "x"), ("c", "x")}
    assert all(math.isinf(m.change) for m in moved)


# ------------------------------------------------------------------------------------------ the default study
def _readme_table() -> dict[str, dict[str, float]]:
    """The README's comparison table of the default study: {platform: {header: value}}."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("$ hetsim run\n"):]
    lines = block.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("platform "))
    headers = re.split(r"\s{2,}", lines[head].strip())
    table = {}
    for line in lines[head + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        table[cells[0]] = {h: float(c) for h, c in zip(headers[1:], cells[1:]) if re.fullmatch(r"[\d.]+", c)}
    return table


#: README column -> (golden metric, factor from SI to the column's unit)
README_COLUMNS = {"energy/inf (mJ)": ("energy_per_inference_J", 1e3),
                  "compute (mJ)": ("compute_energy_per_inference_J", 1e3),
                  "SRAM (mJ)": ("sram_energy_per_inference_J", 1e3), "NVM (mJ)": ("nvm_energy_per_inference_J", 1e3),
                  "DRAM (mJ)": ("dram_energy_per_inference_J", 1e3),
                  "links (mJ)": ("interconnect_energy_per_inference_J", 1e3), "leakage (%)": ("leakage_share", 100),
                  "p50 (ms)": ("latency_p50_s", 1e3), "p99 (ms)": ("latency_p99_s", 1e3),
                  "avg power (mW)": ("average_power_W", 1e3), "area (mm²)": ("area_m2", 1e6),
                  "× bound": ("ratio_to_lower_bound", 1)}


def test_the_readme_table_is_the_golden_file():
    """Every figure of the README's default-study table, to the 3 significant digits it prints, is the
    golden file's (which test_the_default_study_keeps_its_golden_figures checks against a real run)."""
    pinned = json.loads(DEFAULT_GOLDEN.read_text())
    assert pinned["study"]["file"] == "<default>" and pinned["study"]["requests"] is None
    readme = _readme_table()
    assert set(readme) == set(pinned["metrics"])
    wrong = []
    for platform, row in readme.items():
        for header, (metric, factor) in README_COLUMNS.items():
            value = pinned["metrics"][platform][metric] * factor
            shown = float(f"{value:.3g}")
            if not math.isclose(shown, row[header], rel_tol=1e-9, abs_tol=1e-12):
                wrong.append(f"{platform} {header}: README {row[header]}, golden {shown}")
    assert not wrong, "README table differs from tests/golden/default-study.json:\n" + "\n".join(wrong)


@pytest.mark.slow
def test_the_default_study_keeps_its_golden_figures(tmp_path):
    # the real console script, as CI would call it
    out = subprocess.run([sys.executable, "-m", "simulator.cli.main", "golden", "check", str(DEFAULT_GOLDEN)],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, f"the default study's figures moved (re-capture: hetsim golden update " \
        f"tests/golden/default-study.json, and update the README):\n{out.stdout}{out.stderr}"
