"""The trace cache uses an entry only when it is this request's: recorded key and file digests agree."""
from __future__ import annotations

import json
import shutil

from simulator.testing import make_trace
from workloads import cache


def test_an_entry_is_used_only_with_its_own_key_and_files(tmp_path):
    a, b = {"model": "m", "tasks": ["a"]}, {"model": "m", "tasks": ["b"]}
    trace_a, trace_b = make_trace("a", layers=2), make_trace("b", layers=3)
    cache.save(a, {"a": trace_a}, directory=tmp_path)
    cache.save(b, {"a": trace_b}, directory=tmp_path)
    assert cache.load(a, directory=tmp_path) == {"a": trace_a}
    stem_a, stem_b = cache._stem(a), cache._stem(b)
    # another request's trace file, valid in itself, copied over this entry's: not used
    shutil.copy(tmp_path / f"{stem_b}.a.trace.json.gz", tmp_path / f"{stem_a}.a.trace.json.gz")
    assert cache.load(a, directory=tmp_path) is None
    # an index recording another key under this entry's name: not used
    cache.save(a, {"a": trace_a}, directory=tmp_path)
    index = tmp_path / f"{stem_a}.index.json"
    doc = json.loads(index.read_text())
    index.write_text(json.dumps({**doc, "key": cache.cache_key(b)}))
    assert cache.load(a, directory=tmp_path) is None
    # an entry of the earlier layout (no key recorded) is rebuilt, not trusted
    index.write_text(json.dumps({"parts": a, "traces": ["a"]}))
    assert cache.load(a, directory=tmp_path) is None
