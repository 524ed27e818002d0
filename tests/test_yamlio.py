"""The safe YAML reader (hw_models/yamlio.py): what it refuses, in bounded time and one line."""
from __future__ import annotations

import time

import pytest
import yaml

from hw_models.errors import HardwareConfigError
from hw_models.yamlio import MAX_NODES, load_yaml, shorten
from simulator.errors import SimulationConfigError


def _file(tmp_path, data, name="f.yaml"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def _laughs(levels: int, width: int = 9) -> str:
    text = "a: &a [" + ",".join(["lol"] * width) + "]\n"
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        text += f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * width) + "]\n"
    return text


def test_it_reads_what_safe_load_reads(tmp_path):
    text = "name: x\nlist: [1, 2.5, '3 MiB']\nbase: &b {p: 1, q: 2}\nmerged:\n  <<: *b\n  p: 3\nempty:\n"
    assert load_yaml(_file(tmp_path, text)) == yaml.safe_load(text)
    assert load_yaml(_file(tmp_path, "")) is None
    assert load_yaml(_file(tmp_path, "\ufeffa: 1\n")) == {"a": 1}


@pytest.mark.parametrize("text, line, words", [
    ("memories:\n  backbone: {capacity: 1}\n  backbone: {capacity: 2}\n", 3, "'backbone' repeats (first at line 2)"),
    ("a: 1\nb: {c: 1, c: 2}\n", 2, "'c' repeats"),
    ("a: &x [*x]\n", 1, "contains it"),
    ("a: [1, 2\nb: 3\n", 2, "column"),
    ("a: " + "[" * 200 + "]" * 200 + "\n", 1, "nested more than"),
])
def test_a_bad_document_is_one_line_with_file_and_line(tmp_path, text, line, words):
    path = _file(tmp_path, text)
    with pytest.raises(HardwareConfigError) as err:
        load_yaml(path, what="platform")
    msg = str(err.value)
    assert msg.startswith(f"{path}: line {line}") and words in msg and "\n" not in msg and "expected" in msg


@pytest.mark.parametrize("data, words", [
    (b"name: x\n\x00\x01\x02", "line 2: binary data"),
    (b"name: x\ndescription: caf\xe9\n", "line 2: byte 0xe9 is not UTF-8"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary data"),
])
def test_binary_and_non_utf8_input_is_refused(tmp_path, data, words):
    with pytest.raises(SimulationConfigError, match=words):
        load_yaml(_file(tmp_path, data), what="study", error=SimulationConfigError)


def test_alias_expansion_is_bounded_in_time_and_size(tmp_path):
    for text, words in ((_laughs(10), "more than 64 aliases"), (_laughs(7), f"more than {MAX_NODES} values")):
        started = time.perf_counter()
        with pytest.raises(HardwareConfigError, match=words) as err:
            load_yaml(_file(tmp_path, text))
        assert time.perf_counter() - started < 5 and len(str(err.value)) < 300


def test_size_folder_and_missing_file_are_one_line(tmp_path):
    big = _file(tmp_path, "a: " + "x" * 2_000_000 + "\n")
    with pytest.raises(HardwareConfigError, match="larger than"):
        load_yaml(big)
    with pytest.raises(HardwareConfigError, match="is a folder"):
        load_yaml(tmp_path, what="platform")
    with pytest.raises(HardwareConfigError, match="no such file"):
        load_yaml(tmp_path / "nope.yaml")


def test_shorten_bounds_any_value():
    deep: list = []
    deep.append(deep)
    for value in ("x" * 10**6, list(range(10**6)), {str(i): i for i in range(10**5)}, deep):
        assert len(shorten(value)) <= 64
