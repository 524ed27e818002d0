"""`hetsim trace`: summary, saved file, cache hits without torch, bad input exits 2 with one line."""
import os
import subprocess
import sys
import textwrap

import pytest

from simulator.cli.main import main
from workloads import load_trace
from workloads.cache import cached_trace, cache_key
from workloads.trace import TensorInfo, Trace

SMALL = ["tinybert-4l-312", "--layers", "1", "--hidden", "48", "--seq-len", "8"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HETSIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_trace_command_prints_summary_and_saves_a_loadable_trace(cache, tmp_path, capsys):
    out = tmp_path / "t.trace.json.gz"
    assert main(["trace", *SMALL, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    trace = load_trace(out)
    s = trace.summary()
    assert f"{s['macs'] / 1e9:,.3f} G" in text and f"{s['ops']:,}" in text
    for label in ("unique weight bytes", "weight bytes read", "activation bytes", "embedding", "weight"):
        assert label in text
    assert trace.model == "tinybert-4l-312" and s["unknown_ops"] == 0 and "traced:" in text


def test_bits_and_sparsity_apply_to_the_saved_trace(cache, tmp_path, capsys):
    plain, packed = tmp_path / "a.json", tmp_path / "b.json"
    main(["trace", *SMALL, "-o", str(plain)])
    main(["trace", *SMALL, "-o", str(packed), "--bits", "weight=8,embedding=8", "--sparsity", "embedding=0.6"])
    assert "loaded from cache" in capsys.readouterr().out
    a, b = load_trace(plain), load_trace(packed)
    for tid, t in a.tensors.items():
        if t.role == "weight":
            assert b.tensors[tid].stored_bytes == t.stored_bytes / 4
        if t.role == "embedding":
            assert b.tensors[tid].stored_bytes == pytest.approx(t.numel * (0.4 + 1 / 8))


def test_cached_trace_loads_with_torch_unimportable(cache, tmp_path):
    main(["trace", *SMALL, "-o", str(tmp_path / "first.json")])
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None          # any `import torch` now fails
        from simulator.cli.main import main
        sys.exit(main(["trace", *{SMALL!r}, "-o", {str(tmp_path / "second.json")!r}]))
    """)
    env = {**os.environ, "HETSIM_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "loaded from cache" in done.stdout
    assert load_trace(tmp_path / "second.json") == load_trace(tmp_path / "first.json")


def test_cache_hit_does_not_build_again_and_key_covers_what_shapes_a_trace(tmp_path):
    trace = Trace("m", None, {0: TensorInfo(0, "w", "weight", (2,), 2, 32)}, [], {"x": 1})
    calls = []

    def build():
        calls.append(1)
        return trace

    first, hit1 = cached_trace({"model": "m", "seq_len": 8}, build, directory=tmp_path)
    second, hit2 = cached_trace({"model": "m", "seq_len": 8}, build, directory=tmp_path)
    assert (hit1, hit2, len(calls)) == (False, True, 1) and second == trace
    cached_trace({"model": "m", "seq_len": 16}, build, directory=tmp_path)
    assert len(calls) == 2
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1}) != cache_key({"a": 1, "b": 3})


@pytest.mark.parametrize("argv, message", [
    (["trace", "bart"], "unknown model 'bart'; expected one of albert-base-v2, bert-base"),
    (["trace", "bert-base", "--bits", "weight=eight"], "expected a whole number of bits"),
    (["trace", "bert-base", "--sparsity", "embedding"], "expected ROLE=VALUE"),
    (["trace", "bert-base", "--adapter", "houlsby"], "expected houlsby:M"),
    (["trace", "bert-base", "--seq-len", "0"], "--seq-len: 0; expected a whole number >= 1"),
    (["trace", "lightlm", "--new-tokens", "-1"], "--new-tokens: -1; expected a whole number >= 0"),
    (["trace", "bert-base", "--adapter", "lora:2", "--tasks", ","], "--tasks: ',': no task name"),
    (["trace", "bert-base", "--tasks", " "], "--tasks: ' ': no task name"),
    (["trace", "albert-base-v2", "--per-repetition"], "--per-repetition: with --adapter None; expected a "
                                                      "bottleneck --adapter"),
    (["trace", "albert-base-v2", "--per-repetition", "--adapter", "lora:4"], "--per-repetition: with "
                                                                             "--adapter lora:4; expected"),
    # BERT has 512 positions: the forward fails inside the embeddings, which the message names
    (["trace", "bert-base", "--layers", "1", "--hidden", "16", "--seq-len", "600", "--no-cache"],
     "bert-base: embeddings: forward failed (RuntimeError"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys, cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be saved; if it were, not into the repository
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_key_changes_when_the_code_that_builds_traces_changes(tmp_path, monkeypatch):
    import shutil

    from workloads import cache as trace_cache

    for name in trace_cache.SHAPING_MODULES:
        shutil.copy(trace_cache._HERE / name, tmp_path / name)
    monkeypatch.setattr(trace_cache, "_HERE", tmp_path)
    parts = {"model": "m", "seq_len": 8}
    before = cache_key(parts)
    assert cache_key(parts) == before
    for name in trace_cache.SHAPING_MODULES:  # e.g. a zoo config or an adapter placement edited
        path = tmp_path / name
        path.write_text(path.read_text() + "\n# edited\n")
        after = cache_key(parts)
        assert after != before
        before = after


def test_a_damaged_cache_entry_is_rebuilt_and_a_damaged_file_is_a_one_line_error(tmp_path):
    from workloads import WorkloadError
    from workloads.cache import cached_trace

    trace = Trace("m", None, {0: TensorInfo(0, "w", "weight", (2,), 2, 32)}, [], {})
    cached_trace({"model": "m"}, lambda: trace, directory=tmp_path)
    (stored,) = tmp_path.glob("*.trace.json.gz")
    stored.write_bytes(stored.read_bytes()[:-8])  # truncated: the gzip stream ends early
    with pytest.raises(WorkloadError, match=r"\(file\): damaged gzip data"):
        load_trace(stored)
    again, hit = cached_trace({"model": "m"}, lambda: trace, directory=tmp_path)
    assert (hit, again) == (False, trace)
    assert load_trace(stored) == trace


def test_an_unwritable_cache_warns_and_still_traces_and_an_unwritable_output_names_the_file(tmp_path, capsys):
    import warnings

    from workloads.cache import cached_trace

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")  # a cache "directory" below a file cannot be created
    trace = Trace("m", None, {0: TensorInfo(0, "w", "weight", (2,), 2, 32)}, [], {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, hit = cached_trace({"model": "m"}, lambda: trace, directory=blocked / "cache")
    assert (got, hit) == (trace, False)
    assert any("trace cache:" in str(w.message) and "not written" in str(w.message) for w in caught)
    with pytest.raises(OSError) as err:
        trace.save(blocked / "out" / "t.trace.json")
    assert err.value.filename == str(blocked / "out" / "t.trace.json")
    assert list(tmp_path.iterdir()) == [blocked]  # no temporary file left behind
