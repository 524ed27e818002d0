"""The output-folder guard (simulator/outdir.py): which folders hetsim writes into, what it replaces, what
a failure or a killed run leaves."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from simulator.errors import SimulationConfigError
from simulator.outdir import MARKER, TMP_PREFIX, claim_output, read_marker


def _write(out, **files):
    for name, text in files.items():
        (out.tmp / name).write_text(text)


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_new_folder_is_created_with_parents_and_marked(tmp_path):
    with claim_output(tmp_path / "a" / "b", command="run", need_bytes=0) as out:
        _write(out, **{"x.csv": "1"})
        out.commit({"study": "s"})
    marker = read_marker(tmp_path / "a" / "b")
    assert marker["files"] == ["x.csv"] and marker["command"] == "run" and marker["identity"] == {"study": "s"}
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == [MARKER, "x.csv"]


def test_a_failure_before_commit_leaves_no_folder_it_created(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with claim_output(tmp_path / "a" / "b", command="run", need_bytes=0) as out:
            _write(out, **{"x.csv": "1"})
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_user_files_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "thesis.tex").write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(SimulationConfigError, match="did not write"):
            claim_output(tmp_path, command="run", overwrite=overwrite, need_bytes=0)
    assert _tree(tmp_path) == {"summary.json": b"{}", "thesis.tex": b"keep"}


def test_an_earlier_run_needs_overwrite_which_replaces_only_its_files(tmp_path):
    with claim_output(tmp_path, command="run", need_bytes=0) as out:
        _write(out, **{"old.csv": "1", "both.csv": "old"})
        (out.tmp / "sub").mkdir()
        (out.tmp / "sub" / "t.csv").write_text("old")
        out.commit()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SimulationConfigError, match="--overwrite"):
        claim_output(tmp_path, command="run", need_bytes=0)
    with claim_output(tmp_path, command="run", overwrite=True, need_bytes=0) as out:
        _write(out, **{"both.csv": "new", "new.csv": "2"})
        out.commit()
    assert _tree(tmp_path) == {"both.csv": b"new", "new.csv": b"2", "notes.txt": b"mine",
                               MARKER: (tmp_path / MARKER).read_bytes()}
    assert read_marker(tmp_path)["files"] == ["both.csv", "new.csv"]


def test_overwrite_never_replaces_a_user_file_of_the_same_name(tmp_path):
    with claim_output(tmp_path, command="run", need_bytes=0) as out:
        _write(out, **{"a.csv": "1"})
        out.commit()
    (tmp_path / "report.md").write_text("mine")
    with pytest.raises(SimulationConfigError, match="report.md"):
        with claim_output(tmp_path, command="run", overwrite=True, need_bytes=0) as out:
            _write(out, **{"a.csv": "2", "report.md": "generated"})
            out.commit()
    assert (tmp_path / "report.md").read_text() == "mine" and (tmp_path / "a.csv").read_text() == "1"
    assert not any(p.name.startswith(".hetsim-tmp") for p in tmp_path.iterdir())


def test_a_marker_naming_files_outside_the_folder_deletes_nothing_outside(tmp_path):
    (tmp_path / "outside.txt").write_text("keep")
    run = tmp_path / "run"
    run.mkdir()
    (run / MARKER).write_text(json.dumps({"tool": "hetsim", "files": ["../outside.txt", "/etc/hostname", ".."]}))
    with claim_output(run, command="run", overwrite=True, need_bytes=0) as out:
        _write(out, **{"a.csv": "1"})
        out.commit()
    assert (tmp_path / "outside.txt").read_text() == "keep"


def test_an_error_while_writing_is_one_line_and_changes_nothing(tmp_path):
    with claim_output(tmp_path, command="run", need_bytes=0) as out:
        _write(out, **{"a.csv": "1"})
        out.commit()
    before = _tree(tmp_path)
    with pytest.raises(SimulationConfigError, match="writing failed .no space left"):
        with claim_output(tmp_path, command="run", overwrite=True, need_bytes=0) as out:
            _write(out, **{"a.csv": "2"})
            raise OSError(28, "No space left on device")
    assert _tree(tmp_path) == before


def test_not_enough_free_space_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SimulationConfigError, match="free"):
        claim_output(tmp_path / "new", command="run", need_bytes=2**70)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["/proc/hetsim-out", "/sys/hetsim-out/run"])
def test_an_unwritable_place_is_refused_naming_the_field(where):
    with pytest.raises(SimulationConfigError, match=r"^/(proc|sys)/.*: outputs.dir: cannot create"):
        claim_output(where, command="run", field="outputs.dir", need_bytes=0)


def test_a_stale_temporary_of_a_killed_process_is_removed_and_a_live_one_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale_pid = int(dead.stdout)
    claim = claim_output(tmp_path, command="run", need_bytes=0)  # leaves its marked temporary, like a SIGKILL
    info = json.loads((claim.tmp / ".hetsim-tmp.json").read_text())
    with pytest.raises(SimulationConfigError, match="another hetsim process"):
        claim_output(tmp_path, command="run", need_bytes=0)  # our own process is alive: its folder stays
    (claim.tmp / ".hetsim-tmp.json").write_text(json.dumps({**info, "pid": stale_pid, "process_start": None}))
    (tmp_path / f"{TMP_PREFIX}unmarked").mkdir()  # not hetsim's (no marker): never removed
    with pytest.raises(SimulationConfigError, match="did not write"):
        claim_output(tmp_path, command="run", need_bytes=0)
    assert not claim.tmp.exists() and (tmp_path / f"{TMP_PREFIX}unmarked").exists()
    os.rmdir(tmp_path / f"{TMP_PREFIX}unmarked")
    with claim_output(tmp_path, command="run", need_bytes=0) as out:
        out.commit()


def test_a_user_file_inside_an_earlier_runs_folder_blocks_the_overwrite(tmp_path):
    with claim_output(tmp_path, command="run", need_bytes=0) as out:
        (out.tmp / "edge-sram").mkdir()
        _write(out, **{"edge-sram/per_op.csv": "1", "summary.csv": "1"})
        out.commit()
    assert read_marker(tmp_path)["tree"] == ["edge-sram/per_op.csv", "summary.csv"]
    (tmp_path / "edge-sram" / "my-plot.py").write_text("mine")
    with pytest.raises(SimulationConfigError, match="edge-sram/my-plot.py was added inside"):
        claim_output(tmp_path, command="run", overwrite=True, need_bytes=0)
    with claim_output(tmp_path / "other", command="run", need_bytes=0) as out:  # added during a run
        (out.tmp / "d").mkdir()
        _write(out, **{"d/a.csv": "1"})
        out.commit()
    with pytest.raises(SimulationConfigError, match="d/late.txt was added inside"):
        with claim_output(tmp_path / "other", command="run", overwrite=True, need_bytes=0) as out:
            (tmp_path / "other" / "d" / "late.txt").write_text("mine")
            _write(out, **{"a.csv": "2"})
            out.commit()
    assert (tmp_path / "edge-sram" / "my-plot.py").read_text() == "mine"
    assert (tmp_path / "other" / "d" / "late.txt").read_text() == "mine"


def test_a_temporary_folder_never_appears_without_its_complete_marker(tmp_path, monkeypatch):
    """A SIGKILL while the temporary folder is being marked leaves only a staging folder named for its
    process, which the next claim removes once that process is gone; one holding anything else stays."""
    import simulator.outdir as outdir

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale_pid = int(dead.stdout)
    seen = []

    def killed_while_marking(folder, state):  # the marker's file exists, its content not yet
        (folder / outdir.TMP_MARKER).write_text('{"tool": "hets')
        seen.append(sorted(p.name for p in folder.parent.iterdir()))
        raise KeyboardInterrupt  # stands for the kill: nothing after this line runs

    monkeypatch.setattr(outdir, "_write_tmp_marker", killed_while_marking)
    monkeypatch.setattr(outdir.shutil, "rmtree", lambda *a, **k: None)  # a SIGKILL runs no clean-up
    with pytest.raises(KeyboardInterrupt):
        claim_output(tmp_path, command="run", need_bytes=0)
    monkeypatch.undo()
    assert not any(name.startswith(TMP_PREFIX) for name in seen[0])  # only the staging name was visible
    (stage,) = [p for p in tmp_path.iterdir() if p.name.startswith(outdir.STAGE_PREFIX)]
    with pytest.raises(SimulationConfigError, match="another hetsim|did not write"):
        claim_output(tmp_path, command="run", need_bytes=0)  # its process (this one) is alive: kept
    dead_stage = stage.with_name(stage.name.replace(f"-{os.getpid()}-", f"-{stale_pid}-"))
    stage.rename(dead_stage)
    mine = tmp_path / f"{outdir.STAGE_PREFIX}{outdir._host_tag()}-{stale_pid}-x-mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("not hetsim's")  # a look-alike holding a user's file
    with pytest.raises(SimulationConfigError, match="did not write"):
        claim_output(tmp_path, command="run", need_bytes=0)
    assert not dead_stage.exists() and (mine / "thesis.tex").read_text() == "not hetsim's"
    (mine / "thesis.tex").unlink()
    mine.rmdir()
    with claim_output(tmp_path, command="run", need_bytes=0) as out:
        out.commit()
    assert read_marker(tmp_path) is not None
