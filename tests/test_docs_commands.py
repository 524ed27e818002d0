"""Every `hetsim` command shown in README.md and docs/*.md runs as documented, and its output has the shape
the page shows (exit code, first words, table columns). A command that runs the default study or a study of
the docs gets `--requests 3` added, `hetsim reproduce` gets `--quick` (the same command, smaller), to stay
quick; a command shown twice runs once."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "results" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDER = re.compile(r"\[|\b[A-Z]{2,}\b")  # a usage line (MODEL, [--seq-len N]), not a command


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """(page, command, documented output lines) for every hetsim command in a fenced block of the docs."""
    found = []
    for page in PAGES:
        in_block, lang, current = False, "", None
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block, lang, current = not in_block, line[3:].strip(), None
                continue
            if not in_block or lang in ("python", "yaml"):
                continue
            text = line[2:] if line.startswith("$ ") else line
            if (text == "hetsim" or text.startswith("hetsim ")) and not re.match(r"hetsim \d", text):
                # "hetsim: error: ..." and "hetsim 0.1.0: ..." (pytest's header) are output
                command = text.split("  #")[0].split(" # ")[0].strip()
                if not PLACEHOLDER.search(command):
                    current = (page.relative_to(ROOT).as_posix(), command, [])
                    found.append(current)
                else:
                    current = None
            elif current is not None and line.strip():
                current[2].append(line)
    return found


def augmented(command: str) -> list[str]:
    """The argv run for a documented command: the same command, with the options that keep it quick where it
    runs a default study (`run`: `--requests 3`; `reproduce`: `--quick`) and no progress bars."""
    argv = shlex.split(command)[1:]
    if argv and argv[0] == "run":
        argv += (["--requests", "3"] if "--requests" not in argv else []) + ["--no-progress"]
    if argv and argv[0] == "reproduce" and "--list" not in argv and "--quick" not in argv:
        argv += ["--quick"]
    return argv


def _distinct(commands):
    seen, kept = set(), []
    for page, command, shown in commands:
        key = tuple(augmented(command))
        if key not in seen or shown:  # the same command twice runs once, unless the page shows output
            seen.add(key)
            kept.append((page, command, shown))
    return kept


COMMANDS = _distinct(documented_commands())


def _doc_files(folder: Path) -> None:
    """The files the documented commands name, as the pages describe them."""
    run_md = (ROOT / "docs" / "run.md").read_text(encoding="utf-8")
    study = run_md[run_md.index("# my-study.yaml"):]
    (folder / "my-study.yaml").write_text(study[:study.index("```")])
    rram = (ROOT / "hw_models" / "platforms" / "edge-rram.yaml").read_text()
    rram = re.sub(r"^name: .*$", "name: rram-adapters", rram, count=1, flags=re.M)
    (folder / "rram-adapters.yaml").write_text(rram.replace("adapter: [act_sram, dram]",
                                                            "adapter: [backbone, dram]"))
    (folder / "my-chip.yaml").write_text((ROOT / "hw_models" / "platforms" / "edge-rram.yaml").read_text())
    (folder / "broken.yaml").write_text(rram.replace("capacity: 16 MiB", "capacity: 2048", 1))
    (folder / "bad.yaml").write_text("model: albert-base-v2\ntasks: [a]\nplatforms: [edge-sram]\n"
                                     "scenario: {rate: 10}\n")


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 12
    assert {c.split()[1] for _, c, _ in COMMANDS} >= {"run", "trace", "models", "platforms"}


@pytest.mark.slow
@pytest.mark.parametrize("page, command, shown", COMMANDS, ids=[f"{p}: {c}" for p, c, _ in COMMANDS])
def test_a_documented_command_runs_and_prints_what_the_page_shows(page, command, shown, tmp_path):
    argv = augmented(command)
    if "--scheduler" in argv:
        pytest.skip("needs a Dask scheduler at that address (tests/test_sweep_store.py runs a LocalCluster)")
    if argv[:1] == ["golden"] and argv[1:2] != ["capture"]:
        pytest.skip("needs a golden file captured first (tests/test_golden.py runs capture, check, update)")
    _doc_files(tmp_path)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "simulator.cli.main", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert "Traceback" not in done.stderr, done.stderr
    if shown and shown[0].startswith("hetsim: error:"):
        assert done.returncode == 2 and done.stderr.startswith("hetsim: error:"), done.stderr
        first, expected = done.stderr.splitlines()[0], shown[0]
        assert first.split(":")[2:4] == expected.split(":")[2:4] or expected.split(": ", 2)[-1][:40] in first
        return
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() or argv == ["--help"]
    lines = done.stdout.splitlines()
    if shown:  # the first line printed starts as the page shows (traced, or loaded from the cache)
        def start(line: str) -> list[str]:
            return line.replace("loaded from cache:", "traced:").split()[:2]
        assert start(lines[0]) == start(shown[0]), (lines[:3], shown[:3])
    header = next((s for s in shown if s.startswith("platform ") and "energy/inf" in s), None)
    if header:  # the comparison table has the page's columns
        printed = next(line for line in lines if line.startswith("platform ") and "energy/inf" in line)
        assert re.split(r"\s{2,}", printed.strip()) == re.split(r"\s{2,}", header.strip())
    if argv[0] == "run":
        wrote = [line for line in lines if line.startswith("wrote ")]
        assert len(wrote) == 1
        folder = tmp_path / wrote[0].split()[1].rstrip("/")
        assert (folder / "summary.csv").is_file() and (folder / "study.yaml").is_file()
