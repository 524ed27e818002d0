"""Writes the malformed inputs of tests/bad_inputs/ (run it from anywhere: `python tests/bad_inputs/make_cases.py`).

Each case is a file a new user could plausibly hand hetsim: a platform (`platform/`), a study (`study/`), a
sweep (`sweep/`, once `hetsim sweep` exists) or a saved trace (`trace/`). ``EXPECTED.tsv`` lists, per file,
a fragment the one-line error must contain and (optionally) the file it must name when that is not the case
file itself (a study naming a broken platform). tests/test_bad_inputs.py runs every file through its
command and checks: exit code 2, exactly one line on stderr naming the file, no traceback, nothing written.
The files are committed; rerun this script after changing it and commit the result.
"""
from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

PLATFORM = (ROOT / "hw_models" / "platforms" / "edge-rram.yaml").read_text()
STUDY = """\
name: tiny
model: albert-base-v2
layers: 1
hidden: 64
seq_len: 8
tasks: [a, b]
scenario: {requests: 4, seed: 1}
platforms: [edge-sram, edge-rram]
outputs: {formats: [png]}
"""
LAUGHS = "a: &a [" + ",".join(["lol"] * 9) + "]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
FEW_LAUGHS = "a: &a [" + ",".join(["1"] * 9) + "]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(6))
MANY_ALIASES = "x: &x 1\nlist: [" + ", ".join(["*x"] * 70) + "]\n"

cases: list[tuple[str, str, str]] = []  # (relative path, expected fragment, file the message names)


def write(rel: str, content: str | bytes, expect: str, names: str = "") -> None:
    path = HERE / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    cases.append((rel, expect, names))


def mutate(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def with_path(doc: dict, dotted: str, value) -> dict:
    doc = json.loads(json.dumps(doc))
    keys = dotted.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


_DELETE = object()


def platforms() -> None:
    doc = yaml.safe_load(PLATFORM)
    mem = next(iter(doc["memories"]))  # the first memory (backbone)

    def p(name, dotted, value, expect):
        write(f"platform/{name}.yaml", yaml.safe_dump(with_path(doc, dotted, value), sort_keys=False), expect)

    # YAML-level problems
    write("platform/duplicate-memory.yaml", mutate(PLATFORM, [(f"  {mem}:", "  " + mem + ":\n    technology: sram-hp\n    capacity: 1 KiB\n  " + mem + ":")]),
          "repeats")
    write("platform/duplicate-top-key.yaml", PLATFORM + "\nname: other\n", "repeats")
    write("platform/binary-png.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary data")
    write("platform/latin1.yaml", PLATFORM.replace("description:", "description: caf\xe9 ", 1).encode("latin-1"),
          "not UTF-8")
    write("platform/nul-byte.yaml", PLATFORM[:200] + "\0" + PLATFORM[200:], "binary data")
    write("platform/utf16.yaml", PLATFORM.encode("utf-16"), "binary data")
    write("platform/billion-laughs.yaml", LAUGHS, "aliases")
    write("platform/alias-expansion.yaml", FEW_LAUGHS, "expands to more than")
    write("platform/many-aliases.yaml", MANY_ALIASES, "more than 64 aliases")
    write("platform/recursive-alias.yaml", "memories: &m\n  a: *m\n", "alias refers to a value that contains it")
    write("platform/deep-nesting.yaml", "name: " + "[" * 500 + "]" * 500 + "\n", "nested more than")
    write("platform/unclosed-flow.yaml", mutate(PLATFORM, [("memories:", "memories: [x, y\nreally:")]),
          "expected valid YAML")
    write("platform/tab-indent.yaml", mutate(PLATFORM, [("\n  ", "\n\t", )]), "expected valid YAML")
    write("platform/empty.yaml", "", "expected a mapping")
    write("platform/only-comment.yaml", "# nothing here\n", "expected a mapping")
    write("platform/top-level-list.yaml", "- edge-rram\n- edge-sram\n", "expected a mapping")
    write("platform/python-tag.yaml", "name: !!python/object/apply:os.system ['echo hi']\n", "expected valid YAML")
    write("platform/huge-value.yaml", mutate(PLATFORM, [("capacity:", "capacity: " + "9" * 5000 + "x #")]),
          "capacity")
    # out of plausible range
    p("capacity-1e30", f"memories.{mem}.capacity", "1e30 B", "1 B to 1 TiB")
    p("capacity-negative", f"memories.{mem}.capacity", "-16 MiB", "capacity")
    p("capacity-zero", f"memories.{mem}.capacity", "0 B", "capacity")
    p("capacity-no-unit", f"memories.{mem}.capacity", 16777216, "capacity")
    p("capacity-wrong-unit", f"memories.{mem}.capacity", "16 MHz", "capacity")
    p("capacity-nan", f"memories.{mem}.capacity", "nan B", "capacity")
    p("clock-millihertz", "operating_points.nominal.frequency", "0.001 Hz", "1 kHz to 100 GHz")
    p("clock-terahertz", "operating_points.nominal.frequency", "5000 GHz", "1 kHz to 100 GHz")
    p("voltage-50V", "operating_points.nominal.voltage", "50 V", "0.05 V to 5 V")
    p("nominal-voltage-zero", "nominal_voltage", "0 V", "nominal_voltage")
    p("node-one-metre", "node", "1 m", "1 nm to 10 um")
    p("link-energy-joule", "links.0.energy_per_bit", "1 J", "at most 1 uJ")
    p("link-width-zero", "links.0.width_bits", 0, "width_bits")
    p("link-width-billion", "links.0.width_bits", 10**9, "width_bits")
    p("link-clock-string", "links.0.clock", "fast", "clock")
    p("mac-rows-huge", "compute.mac_array.rows", 100000, "rows")
    p("mac-weight-bits-128", "compute.mac_array.weight_bits", 128, "weight_bits")
    p("mac-dataflow-xy", "compute.mac_array.dataflow", "xy", "dataflow")
    p("vector-lanes-float", "compute.vector_unit.lanes", 2.5, "lanes")
    p("banks-zero", f"memories.{mem}.banks", 0, "banks")
    p("ports-text", f"memories.{mem}.ports", "two", "ports")
    p("prefetch-negative", "prefetch_depth", -1, "prefetch_depth")
    p("leakage-exponent-100", "leakage_voltage_exponent", 100, "leakage_voltage_exponent")
    # structure and references
    p("unknown-top-key", "memorys", {}, "unknown key")
    p("unknown-memory-key", f"memories.{mem}.capacityy", "1 MiB", "unknown key")
    p("missing-name", "name", _DELETE, "name")
    p("name-with-space", "name", "my chip", "name")
    p("memories-as-list", "memories", ["a", "b"], "memories")
    p("no-operating-points", "operating_points", {}, "operating_points")
    p("unknown-technology", f"memories.{mem}.technology", "unobtainium", "technology")
    p("technology-file-missing", f"memories.{mem}.technology", "nope-tech.yaml", "technology")
    p("backed-by-unknown", f"memories.{mem}.backed_by", "tape", "backed_by")
    p("link-unknown-endpoint", "links.0.src", "nowhere", "links.0")
    p("placement-unknown-memory", "placement.roles.weight", ["nowhere"], "placement.roles.weight")
    p("default-point-unknown", "default_operating_point", "turbo", "default_operating_point")
    # a technology file of the user's, named by path from a platform
    tech = yaml.safe_load((ROOT / "hw_models" / "data" / "technologies" / "rram.yaml").read_text())
    tech["reference"]["read_energy"] = "3 J"
    write("platform/technology-read-energy-3J.yaml", yaml.safe_dump(tech, sort_keys=False), "missing")  # not a platform
    write("platform/uses-bad-technology.yaml",
          yaml.safe_dump(with_path(doc, f"memories.{mem}.technology", "technology-read-energy-3J.yaml"),
                         sort_keys=False), "at most 1 uJ", names="technology-read-energy-3J.yaml")


def studies() -> None:
    doc = yaml.safe_load(STUDY)

    def s(name, dotted, value, expect, names=""):
        write(f"study/{name}.yaml", yaml.safe_dump(with_path(doc, dotted, value), sort_keys=False), expect, names)

    write("study/duplicate-key.yaml", STUDY + "model: bert-base\n", "repeats")
    write("study/duplicate-nested-key.yaml", STUDY.replace("{requests: 4, seed: 1}", "{requests: 4, requests: 9}"),
          "repeats")
    write("study/binary.yaml", bytes(range(256)) * 4, "binary data")
    write("study/latin1.yaml", STUDY.replace("name: tiny", "name: tiny\ndescription: \xe9t\xe9").encode("latin-1"),
          "not UTF-8")
    write("study/billion-laughs.yaml", LAUGHS, "aliases")
    write("study/alias-expansion.yaml", FEW_LAUGHS, "expands to more than")
    write("study/unclosed-flow.yaml", STUDY.replace("[a, b]", "[a, b"), "expected valid YAML")
    write("study/bad-indent.yaml", STUDY.replace("seq_len: 8", "  seq_len: 8"), "expected valid YAML")
    write("study/empty.yaml", "", "expected a mapping")
    write("study/top-level-string.yaml", "just a sentence\n", "expected a mapping")
    s("requests-billion", "scenario.requests", 10**9, "requests")
    s("requests-zero", "scenario.requests", 0, "requests")
    s("requests-negative", "scenario.requests", -5, "requests")
    s("requests-text", "scenario.requests", "many", "requests")
    s("requests-fraction", "scenario.requests", 2.5, "requests")
    s("seq-len-zero", "seq_len", 0, "seq_len")
    s("seq-len-million", "seq_len", 10**6, "seq_len")
    s("layers-zero", "layers", 0, "layers")
    s("hidden-huge", "hidden", 10**7, "hidden")
    s("tasks-empty", "tasks", [], "tasks")
    s("tasks-repeat", "tasks", ["a", "a"], "tasks")
    s("task-name-slash", "tasks", ["a/b"], "tasks")
    s("name-path", "name", "../../etc", "name")
    s("unknown-key", "platfroms", ["edge-sram"], "unknown key")
    s("missing-model", "model", _DELETE, "model")
    s("unknown-model", "model", "gpt-17", "gpt-17")
    s("lora-rank-too-wide", "adapter", "lora:100000", "expected at most 64")
    s("houlsby-too-wide", "adapter", "houlsby:5000", "expected at most 256")
    s("adapter-malformed", "adapter", "houlsby", "adapter")
    s("platform-unknown", "platforms", ["edge-nothing"], "platforms.0.platform")
    s("platform-missing-file", "platforms", ["nope.yaml"], "platforms.0.platform")
    s("platform-folder", "platforms", ["../platform"], "platforms.0.platform")
    s("platforms-repeat", "platforms", ["edge-sram", "edge-sram"], "appears twice")
    s("platform-mode", "platforms", [{"platform": "edge-sram", "mode": "both"}], "mode")
    s("platform-label-space", "platforms", [{"platform": "edge-sram", "label": "my label"}], "label")
    s("uses-duplicate-memory-platform", "platforms", ["../platform/duplicate-memory.yaml"], "repeats",
      names="duplicate-memory.yaml")
    s("uses-1e30-platform", "platforms", ["../platform/capacity-1e30.yaml"], "1 B to 1 TiB",
      names="capacity-1e30.yaml")
    s("uses-binary-platform", "platforms", ["edge-sram", "../platform/binary-png.yaml"], "binary data",
      names="binary-png.yaml")
    s("rate-gigahertz", "scenario.rate", "5 GHz", "rate")
    s("rate-negative", "scenario.rate", "-1 Hz", "rate")
    s("rate-no-unit", "scenario.rate", 10, "rate")
    s("period-zero", "scenario.period", "0 s", "period")
    s("switch-probability", "scenario.switch_probability", 1.5, "switch_probability")
    s("stream-unknown", "scenario.stream", "random", "stream")
    s("task-mix-stray", "scenario.task_mix", {"a": 1, "zzz": 2}, "task_mix")
    s("sequence-stray", "scenario.sequence", ["a", "zzz"], "sequence")
    s("bits-zero", "compression.bits", {"weight": 0}, "bits")
    s("bits-unknown-role", "compression.bits", {"weights": 8}, "unknown role")
    s("sparsity-one", "compression.sparsity", {"embedding": 1.0}, "sparsity")
    s("evaluator-unknown", "evaluator", "magic", "evaluator")
    s("formats-gif", "outputs.formats", ["gif"], "formats")
    s("perfetto-negative", "outputs.perfetto_requests", -1, "perfetto_requests")
    s("outdir-unwritable", "outputs.dir", "/proc/hetsim-run", "outputs.dir")
    s("outdir-is-a-file", "outputs.dir", "/proc/self/status", "outputs.dir")


def traces() -> None:
    from simulator.testing import make_trace

    doc = make_trace("t0", layers=2).to_dict()

    def t(name, mutate_doc, expect):
        write(f"trace/{name}.trace.json", json.dumps(mutate_doc(json.loads(json.dumps(doc)))), expect)

    def at(path, value):
        def change(d):
            node = d
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
            return d
        return change

    t("numel-negative", at(["tensors", 0, 4], -1024), "tensors[0].numel")
    t("numel-fraction", at(["tensors", 0, 4], 10.5), "tensors[0].numel")
    t("shape-negative", at(["tensors", 0, 3], [-4, 8]), "tensors[0].shape")
    t("bits-zero", at(["tensors", 1, 5], 0), "tensors[1].bits")
    t("sparsity-two", at(["tensors", 1, 6], 2.0), "tensors[1].sparsity")
    t("tensor-id-repeats", at(["tensors", 1, 0], doc["tensors"][0][0]), "repeats")
    t("role-unknown", at(["tensors", 0, 2], "ghost"), "role")
    t("macs-negative", at(["ops", 0, 5], -1), "ops[0].macs")
    t("reads-negative", at(["ops", 0, 7], [[doc["tensors"][0][0], -5]]), "ops[0].reads")
    t("reads-unknown-tensor", at(["ops", 0, 7], [[99999, 5]]), "not in tensors")
    t("deps-unresolved", at(["ops", 1, 9], [42]), "ops[1].deps")
    t("deps-forward", at(["ops", 0, 9], [1]), "ops[0].deps")
    t("op-id-out-of-order", at(["ops", 1, 0], 7), "ops[1].id")
    t("string-index-out-of-range", at(["ops", 0, 1], 10**6), "ops[0].module")
    t("string-index-negative", at(["ops", 0, 2], -1), "ops[0].layer")
    t("gemm-three-numbers", at(["ops", 0, 10], [1, 2, 3]), "ops[0].gemm")
    t("step-negative", at(["ops", 0, 11], -2), "ops[0].step")
    t("wrong-format", at(["format"], "something-else"), "format")
    t("version-99", at(["version"], 99), "version")
    write("trace/not-json.trace.json", "this is not json\n", "not JSON")
    write("trace/truncated.trace.json", json.dumps(doc)[:200], "not JSON")
    write("trace/top-level-list.trace.json", "[1, 2, 3]\n", "format")
    write("trace/damaged-gzip.trace.json.gz", gzip.compress(json.dumps(doc).encode(), mtime=0)[:100], "damaged gzip")


def main() -> None:
    for sub in ("platform", "study", "trace"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    platforms()
    studies()
    traces()
    lines = ["# file\texpected fragment of the one-line error\tfile the message names (default: the case file)"]
    lines += [f"{rel}\t{expect}\t{names}" for rel, expect, names in cases]
    (HERE / "EXPECTED.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {HERE}")


if __name__ == "__main__":
    main()
