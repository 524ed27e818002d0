"""Faults during a real `hetsim run` process (SIGINT, SIGKILL while simulating and while writing), a user's
file in the output folder of every command, and the run folder reproducing its run from anywhere."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.cli.main import main as cli
from simulator.outdir import MARKER, TMP_MARKER, TMP_PREFIX

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
name: tiny
model: albert-base-v2
layers: 1
hidden: 64
seq_len: 8
tasks: [a, b]
scenario: {{requests: {requests}, seed: 1}}
platforms: [{platforms}]
outputs: {{formats: [png, pdf, svg], ledger: {ledger}}}
"""


def _study(folder: Path, requests: int = 4, platforms: str = "edge-sram, edge-rram", ledger: bool = False,
           name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(TINY.format(requests=requests, platforms=platforms, ledger=str(ledger).lower()))
    return path


def _hetsim(*argv: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-m", "simulator.cli.main", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _contents(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (temporary folders of hetsim's aside) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(TMP_PREFIX) for part in p.relative_to(folder).parts)}


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(TMP_PREFIX)] if folder.is_dir() else []


def _wait_for(process: subprocess.Popen, out: Path, writing: bool, timeout: float = 240.0) -> bool:
    """Wait until ``process`` is simulating (its temporary folder holds only its marker) or writing (it holds
    more); False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and process.poll() is None:
        for tmp in _temporaries(out):
            try:
                names = {p.name for p in tmp.iterdir()}
            except FileNotFoundError:
                continue
            if TMP_MARKER in names and (len(names) > 1) == writing:
                return True
        time.sleep(0.002)
    return False


def _run_ok(*argv: str, cwd: Path) -> str:
    process = _hetsim(*argv, cwd=cwd)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return out


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A study (long enough to interrupt) and a finished run of it, with a user's file added beside."""
    folder = tmp_path_factory.mktemp("faults")
    study = _study(folder, requests=400, ledger=True)
    _run_ok("run", str(study), "-o", "earlier", "--no-progress", cwd=folder)
    (folder / "earlier" / "notes.txt").write_text("my notes on this run")
    return folder, study


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("writing", [False, True], ids=["simulating", "writing"])
def test_a_killed_run_loses_nothing_and_the_next_run_cleans_up(earlier_run, sig, writing):
    folder, study = earlier_run
    earlier = folder / "earlier"
    before = _contents(earlier)
    # a new folder, and the earlier run replaced with --overwrite: both interrupted at the same point
    for out, extra in ((folder / f"new-{sig.name}-{writing}", []), (earlier, ["--overwrite"])):
        process = _hetsim("run", str(study), "-o", str(out), "--no-progress", *extra, cwd=folder)
        caught = _wait_for(process, out, writing)
        if not caught:
            process.wait(timeout=60)
            pytest.skip("the run ended before it could be interrupted at that point")
        process.send_signal(sig)
        _, err = process.communicate(timeout=120)
        if sig == signal.SIGINT and process.returncode == 0:
            # the run committed its output before the signal arrived (writing takes well under a second
            # now): not an interruption; the folder must then be a complete run with nothing left behind
            assert _temporaries(out) == [] and (out / "summary.csv").exists(), err
            pytest.skip("the run finished before the signal arrived")
        if sig == signal.SIGINT:
            assert process.returncode == 130 and err.strip().splitlines()[-1] == "hetsim: interrupted", err
            assert "Traceback" not in err
            assert _temporaries(out) == []  # nothing left behind
            assert not out.exists() if out != earlier else True
        else:
            assert process.returncode == -signal.SIGKILL
        if out == earlier:
            assert _contents(earlier) == before  # the earlier run and the user's notes, byte for byte
    # the next run into each folder removes the killed run's temporary folder and succeeds
    for out in (folder / f"new-{sig.name}-{writing}", earlier):
        extra = ["--overwrite"] if (out / MARKER).exists() else []
        _run_ok("run", str(study), "-o", str(out), "--no-progress", "--requests", "4", *extra, cwd=folder)
        assert _temporaries(out) == [] and (out / MARKER).exists()
    assert (earlier / "notes.txt").read_text() == "my notes on this run"
    (earlier / "notes.txt").unlink()
    _run_ok("run", str(study), "-o", str(earlier), "--no-progress", "--overwrite", cwd=folder)  # as it was
    (earlier / "notes.txt").write_text("my notes on this run")


@pytest.mark.slow
def test_a_user_file_survives_every_command(tmp_path, capsys, monkeypatch):
    """Refused before any work: `run -o` a folder of the user's (with or without --overwrite, even when it
    holds a summary.json), `trace -o` the user's file; commands that write nothing leave it alone."""
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"thesis.tex": "\\chapter{}", "summary.json": "{}", "study.yaml": "name: mine\n"}
    for name, text in files.items():
        (mine / name).write_text(text)
    (tmp_path / "thesis.trace.json.gz").write_text("not a trace")
    study = _study(tmp_path)
    commands = [["run", str(study), "-o", str(mine), "--no-progress"],
                ["run", str(study), "-o", str(mine), "--no-progress", "--overwrite"],
                ["run", str(study), "-o", ".", "--no-progress", "--overwrite"],
                ["trace", "albert-base-v2", "--layers", "1", "--hidden", "64", "--seq-len", "8",
                 "-o", "thesis.trace.json.gz"],
                ["trace", "albert-base-v2", "--layers", "1", "--hidden", "64", "--seq-len", "8",
                 "--adapter", "houlsby:4", "--tasks", "tex,x", "-o", str(mine / "thesis.trace.json.gz")],
                ["platforms", "show", "edge-rram"], ["models"]]
    for argv in commands:
        code = cli(argv)
        err = capsys.readouterr().err
        assert code in (0, 2) and "Traceback" not in err, (argv, err)
    assert {p.name: p.read_text() for p in mine.iterdir() if p.name in files} == files
    assert (tmp_path / "thesis.trace.json.gz").read_text() == "not a trace"


@pytest.mark.slow
def test_a_run_folder_reproduces_its_run_from_anywhere(tmp_path):
    """Platform and technology files of the user's are copied beside study.yaml; running that study.yaml
    from another folder gives the same files, byte for byte."""
    inputs = tmp_path / "inputs"
    (inputs / "techs").mkdir(parents=True)
    platform = (ROOT / "hw_models" / "platforms" / "edge-rram.yaml").read_text()
    (inputs / "techs" / "my-rram.yaml").write_text((ROOT / "hw_models" / "data" / "technologies" /
                                                    "rram.yaml").read_text())
    assert "technology: rram\n" in platform
    (inputs / "chip.yaml").write_text(platform.replace("technology: rram\n", "technology: techs/my-rram.yaml\n"))
    study = _study(inputs, platforms="chip.yaml, edge-sram")
    _run_ok("run", str(study), "-o", str(tmp_path / "one"), "--no-progress", cwd=inputs)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _run_ok("run", str(tmp_path / "one" / "study.yaml"), "-o", "two", "--no-progress", cwd=elsewhere)
    one, two = _contents(tmp_path / "one"), _contents(elsewhere / "two")
    assert {"chip.yaml", "my-rram.yaml", "study.yaml", "chip/summary.json"} <= set(one)
    assert "my-rram.yaml" in one["chip.yaml"].decode() and "techs/" not in one["chip.yaml"].decode()
    one.pop(MARKER), two.pop(MARKER)  # the marker records when each was written
    assert one.keys() == two.keys()
    assert [k for k in one if one[k] != two[k]] == []
