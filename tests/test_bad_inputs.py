"""The campaign of malformed inputs (tests/bad_inputs/, written by its make_cases.py): every file, handed to
the command that reads it, gives exit code 2, exactly one line on stderr naming the file and what was wrong,
no traceback, and writes nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli.main import main as cli
from workloads import WorkloadError, load_trace

HERE = Path(__file__).parent / "bad_inputs"
CASES = [line.split("\t") for line in (HERE / "EXPECTED.tsv").read_text(encoding="utf-8").splitlines()
         if line and not line.startswith("#")]


def _tree(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_the_campaign_covers_every_kind_of_input():
    kinds = [rel.split("/")[0] for rel, *_ in CASES]
    assert len(CASES) >= 80 and {"platform", "study", "trace"} <= set(kinds)
    on_disk = {str(p.relative_to(HERE)) for p in HERE.glob("*/*") if p.is_file()}
    assert on_disk == {rel for rel, *_ in CASES}, "EXPECTED.tsv and the files disagree: rerun make_cases.py"


@pytest.mark.parametrize("rel, expect, names", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_is_one_line_exit_2_and_writes_nothing(rel, expect, names, tmp_path, monkeypatch, capsys):
    path = HERE / rel
    kind = rel.split("/")[0]
    monkeypatch.chdir(tmp_path)
    before = _tree(HERE)
    if kind == "trace":
        with pytest.raises(WorkloadError) as err:
            load_trace(path)
        line = str(err.value)
        assert "\n" not in line
    else:
        if kind == "platform":
            argv = ["platforms", "show", str(path)]
        else:
            argv = ["run", str(path), "--no-progress"]
            if not Path(rel).name.startswith("outdir-"):
                argv += ["-o", str(tmp_path / "out")]
        code = cli(argv)
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        assert code == 2, captured.err
        assert len(lines) == 1 and lines[0].startswith("hetsim: error: "), captured.err
        assert "Traceback" not in captured.err + captured.out
        line = lines[0]
        assert list(tmp_path.iterdir()) == []  # nothing written: no output folder, no trace
    assert (names or Path(rel).name) in line, line
    assert expect in line, line
    assert len(line) <= 420
    assert _tree(HERE) == before  # the input files themselves untouched


def test_a_folder_or_an_oversized_file_as_platform_or_study(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text("description: " + "x" * (2 << 20) + "\n")
    for argv, words in ((["platforms", "show", str(tmp_path)], "is a folder"),
                        (["run", str(tmp_path / ""), "-o", str(tmp_path / "o")], "is a folder"),
                        (["platforms", "show", str(big)], "larger than"),
                        (["run", str(big), "-o", str(tmp_path / "o")], "larger than")):
        assert cli(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml"]


@pytest.mark.parametrize("rel", ["platform/billion-laughs.yaml", "study/binary.yaml", "study/requests-billion.yaml"])
def test_a_real_process_prints_one_line_quickly(rel, tmp_path):
    """The same through the installed console script: what a user sees, stderr and all."""
    argv = ["platforms", "show"] if rel.startswith("platform/") else ["run", "-o", str(tmp_path / "o")]
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    done = subprocess.run([sys.executable, "-m", "simulator.cli.main", *argv, str(HERE / rel)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert list(tmp_path.iterdir()) == []
